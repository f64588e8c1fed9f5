"""The serial port: write a request, collect verified packets until a deadline.

Counts the bytes written and read and the transactions, for the benchmark.
"""

from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass

import serial
from vlakit_serial_arm.errors import PortError
from vlakit_serial_arm.protocol.packet import Packet
from vlakit_serial_arm.protocol.parser import make_parser


@dataclass
class BusStats:
    """Traffic since the last :meth:`reset` (bytes on the wire, request/reply transactions)."""

    bytes_written: int = 0
    bytes_read: int = 0
    transactions: int = 0
    rejected_packets: int = 0

    def reset(self) -> None:
        self.bytes_written = self.bytes_read = self.transactions = self.rejected_packets = 0


class SerialTransport:
    """A half-duplex serial bus behind ``port`` at ``baudrate`` speaking ``protocol``."""

    def __init__(self, port: str, baudrate: int, protocol: str) -> None:
        self.port_name = port
        self.baudrate = baudrate
        self.parser = make_parser(protocol, status=True)
        self.stats = BusStats()
        self._serial: serial.Serial | None = None
        self._fd: int | None = None
        self._echo = b""  # what an echoing adapter may still send back of the last request

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        try:
            self._serial = serial.Serial(self.port_name, self.baudrate, timeout=0, write_timeout=1.0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PortError(f"cannot open serial port {self.port_name!r}: {exc}") from None
        try:
            self._fd = self._serial.fileno() if os.name == "posix" else None
        except (AttributeError, OSError, serial.SerialException):
            self._fd = None

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            finally:
                self._serial = None
                self._fd = None

    def _port(self) -> serial.Serial:
        if self._serial is None:
            raise PortError(f"serial port {self.port_name!r} is not open")
        return self._serial

    def send(self, data: bytes) -> None:
        """Discard stale input, then write ``data``."""
        port = self._port()
        try:
            if port.in_waiting:
                port.reset_input_buffer()
            self.parser.clear()
            port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise PortError(f"serial port {self.port_name!r} failed while writing: {exc}") from None
        self._echo = bytes(data)
        self.stats.bytes_written += len(data)
        self.stats.transactions += 1

    def receive(self, count: int, timeout: float) -> list[Packet]:
        """Verified packets, until ``count`` arrived or ``timeout`` seconds passed."""
        port = self._port()
        deadline = time.monotonic() + timeout
        out: list[Packet] = []
        rejected = self.parser.rejected
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                data = self._read_some(port, left)
            except (serial.SerialException, OSError) as exc:
                raise PortError(f"serial port {self.port_name!r} failed while reading: {exc}") from None
            if not data:
                break
            self.stats.bytes_read += len(data)
            out += self.parser.feed(self._strip_echo(data))
        self.stats.rejected_packets += self.parser.rejected - rejected
        return out

    def _strip_echo(self, data: bytes) -> bytes:
        """Drop the request's own bytes when the adapter echoes them (some half-duplex boards
        do): a Feetech read request echoed would otherwise parse as a status from that id."""
        if not self._echo:
            return data
        n = min(len(data), len(self._echo))
        if data[:n] != self._echo[:n]:
            self._echo = b""
            return data
        self._echo = self._echo[n:]
        return data[n:]

    def _read_some(self, port: serial.Serial, timeout: float) -> bytes:
        """Whatever bytes arrive first, waiting at most ``timeout`` seconds (empty: none came).

        On POSIX this waits on the port's file descriptor (no reconfiguration of the port per
        read); elsewhere pyserial's own timeout is used.
        """
        if self._fd is not None:
            ready, _, _ = select.select([self._fd], [], [], timeout)
            return os.read(self._fd, 4096) if ready else b""
        port.timeout = timeout
        return port.read(max(1, port.in_waiting))
