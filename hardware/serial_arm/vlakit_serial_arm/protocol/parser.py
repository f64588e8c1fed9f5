"""Streaming parsers: bytes in, verified packets out, resynchronizing after garbage.

A parser never returns a packet whose checksum/CRC or length is wrong: such bytes are counted
in :attr:`rejected` and skipped one byte at a time until the next plausible header. Timeouts are
the reader's business (:mod:`vlakit_serial_arm.transport`); a parser only holds partial input.
"""

from __future__ import annotations

from vlakit_serial_arm.protocol import dynamixel as dxl
from vlakit_serial_arm.protocol import feetech as ft
from vlakit_serial_arm.protocol.packet import Packet

#: Longest Dynamixel packet accepted (LEN field), bytes; the servos' buffers are smaller.
MAX_DXL_LENGTH = 1024


class PacketParser:
    """Base of the two protocol parsers. ``status=True`` parses status packets (the host's
    side), ``False`` instruction packets (the servo's side)."""

    def __init__(self, status: bool = True) -> None:
        self.status = status
        self.buffer = bytearray()
        self.rejected = 0
        self.skipped_bytes = 0

    def feed(self, data: bytes) -> list[Packet]:
        """Add received bytes; return the complete, verified packets they finish, in order."""
        self.buffer += data
        out: list[Packet] = []
        while True:
            packet = self._next()
            if packet is None:
                return out
            out.append(packet)

    def clear(self) -> None:
        """Forget partial input (before a new transaction)."""
        self.buffer.clear()

    def _drop(self, n: int) -> None:
        del self.buffer[:n]
        self.skipped_bytes += n

    def _next(self) -> Packet | None:
        raise NotImplementedError

    def _complete_later(self, header: bytes, frame: object) -> bool:
        """While a packet is incomplete: when a later header starts a complete, valid packet,
        the first one was a false start (garbage that looked like a header); drop up to the
        later one and return ``True``."""
        at = self.buffer.find(header, 1)
        while at > 0:
            size = frame(at)  # type: ignore[operator]
            if size and at + size <= len(self.buffer) and self._valid(at, size):
                self.rejected += 1
                self._drop(at)
                return True
            at = self.buffer.find(header, at + 1)
        return False

    def _valid(self, at: int, size: int) -> bool:
        raise NotImplementedError


class DynamixelParser(PacketParser):
    """Protocol 2.0 packets: header, id, length, CRC-16, byte stuffing."""

    def _frame(self, at: int) -> int:
        buf = self.buffer
        if at + 7 > len(buf):
            return 0
        length = buf[at + 5] | buf[at + 6] << 8
        return 7 + length if 3 <= length <= MAX_DXL_LENGTH else 0

    def _valid(self, at: int, size: int) -> bool:
        raw = self.buffer[at : at + size]
        return dxl.crc16(raw[:-2]) == raw[-2] | raw[-1] << 8

    def _next(self) -> Packet | None:
        buf = self.buffer
        while True:
            start = buf.find(dxl.HEADER)
            if start < 0:
                keep = 3 if buf.endswith(b"\xff\xff\xfd") else 2 if buf.endswith(b"\xff\xff") else 1 if buf.endswith(b"\xff") else 0
                self._drop(len(buf) - keep)
                return None
            if start:
                self._drop(start)
            if len(buf) < 7:
                return None
            dxl_id, length = buf[4], buf[5] | buf[6] << 8
            min_length = 4 if self.status else 3
            if dxl_id > dxl.BROADCAST_ID or not min_length <= length <= MAX_DXL_LENGTH:
                self.rejected += 1
                self._drop(1)
                continue
            total = 7 + length
            if len(buf) < total:
                if self._complete_later(dxl.HEADER, self._frame):
                    continue
                return None
            raw = bytes(buf[:total])
            crc = raw[-2] | raw[-1] << 8
            instruction = raw[7]
            if dxl.crc16(raw[:-2]) != crc or (instruction == dxl.STATUS) != self.status:
                self.rejected += 1
                self._drop(1)
                continue
            self._drop(total)
            self.skipped_bytes -= total
            body = raw[8:-2]
            fast = self.status and dxl_id == dxl.BROADCAST_ID
            if not fast:
                body = dxl.unstuff(body)
            if self.status:
                return Packet(dxl_id, body[1:], error=body[0], raw=raw)
            return Packet(dxl_id, body, instruction=instruction, raw=raw)


class FeetechParser(PacketParser):
    """SCS/STS packets: header FF FF, id, length, checksum."""

    def _frame(self, at: int) -> int:
        buf = self.buffer
        if at + 4 > len(buf) or buf[at + 2] == 0xFF or buf[at + 3] < 2:
            return 0
        return 4 + buf[at + 3]

    def _valid(self, at: int, size: int) -> bool:
        raw = self.buffer[at : at + size]
        return ft.checksum(raw[2:-1]) == raw[-1]

    def _next(self) -> Packet | None:
        buf = self.buffer
        while True:
            start = buf.find(ft.HEADER)
            if start < 0:
                self._drop(len(buf) - (1 if buf.endswith(b"\xff") else 0))
                return None
            if start:
                self._drop(start)
            if len(buf) < 4:
                return None
            servo_id, length = buf[2], buf[3]
            if servo_id == 0xFF or length < 2:
                self.rejected += servo_id != 0xFF  # FF FF FF: the header started one byte later
                self._drop(1)
                continue
            total = 4 + length
            if len(buf) < total:
                if self._complete_later(ft.HEADER, self._frame):
                    continue
                return None
            raw = bytes(buf[:total])
            if ft.checksum(raw[2:-1]) != raw[-1]:
                self.rejected += 1
                self._drop(1)
                continue
            self._drop(total)
            self.skipped_bytes -= total
            if self.status:
                return Packet(servo_id, raw[5:-1], error=raw[4], raw=raw)
            return Packet(servo_id, raw[5:-1], instruction=raw[4], raw=raw)


def make_parser(protocol: str, status: bool = True) -> PacketParser:
    """The parser of ``protocol`` (``dynamixel`` or ``feetech``)."""
    if protocol == "dynamixel":
        return DynamixelParser(status)
    if protocol == "feetech":
        return FeetechParser(status)
    raise ValueError(f"unknown protocol {protocol!r} (dynamixel or feetech)")
