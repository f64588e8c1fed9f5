"""Dynamixel Protocol 2.0 packets (ROBOTIS e-Manual, "DYNAMIXEL Protocol 2.0").

Instruction packet: ``FF FF FD 00 | ID | LEN_L LEN_H | INST | PARAMS | CRC_L CRC_H`` where
``LEN = len(stuffed INST + PARAMS) + 2``; status packet: the same with ``INST = 0x55`` followed
by the error byte. Multi-byte fields are little-endian. The CRC is CRC-16 with polynomial 0x8005
(initial value 0, no reflection) over every byte from the header up to the CRC, after byte
stuffing: inside INST..PARAMS each ``FF FF FD`` becomes ``FF FF FD FD``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from vlakit_serial_arm.protocol.packet import id_data_blocks

HEADER = b"\xff\xff\xfd\x00"
BROADCAST_ID = 0xFE
MAX_ID = 0xFC

PING = 0x01
READ = 0x02
WRITE = 0x03
REG_WRITE = 0x04
ACTION = 0x05
FACTORY_RESET = 0x06
REBOOT = 0x08
CLEAR = 0x10
STATUS = 0x55
SYNC_READ = 0x82
SYNC_WRITE = 0x83
FAST_SYNC_READ = 0x8A
BULK_READ = 0x92
BULK_WRITE = 0x93

#: Error numbers of the status packet's error byte (bits 0-6).
ERROR_NUMBERS = {
    1: "result fail",
    2: "instruction error",
    3: "CRC error",
    4: "data range error",
    5: "data length error",
    6: "data limit error",
    7: "access error",
}
#: Bit 7 of the error byte: the device has a hardware problem (see Hardware Error Status).
ALERT_BIT = 0x80
#: Bits of the Hardware Error Status register (address 70 on X series).
HARDWARE_ERROR_BITS = {
    0: "input voltage error",
    2: "overheating",
    3: "motor encoder error",
    4: "electrical shock",
    5: "overload",
}


def _make_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC_TABLE = _make_table()


def crc16(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-16 (polynomial 0x8005, MSB first, initial ``crc``) of ``data``."""
    table = _CRC_TABLE
    for byte in data:
        crc = ((crc << 8) ^ table[((crc >> 8) ^ byte) & 0xFF]) & 0xFFFF
    return crc


def stuff(body: bytes) -> bytes:
    """Insert ``FD`` after every ``FF FF FD`` in ``body`` (instruction + parameters)."""
    if b"\xff\xff\xfd" not in body:
        return body
    return body.replace(b"\xff\xff\xfd", b"\xff\xff\xfd\xfd")


def unstuff(body: bytes) -> bytes:
    """Inverse of :func:`stuff`."""
    if b"\xff\xff\xfd\xfd" not in body:
        return body
    return body.replace(b"\xff\xff\xfd\xfd", b"\xff\xff\xfd")


def packet(dxl_id: int, instruction: int, params: bytes = b"") -> bytes:
    """One packet (instruction or status: for a status, ``instruction=0x55`` and ``params``
    starts with the error byte), stuffed and with its CRC."""
    if not 0 <= dxl_id <= 0xFE:
        raise ValueError(f"Dynamixel id must be 0..254, got {dxl_id}")
    body = stuff(bytes([instruction]) + bytes(params))
    length = len(body) + 2
    head = HEADER + bytes([dxl_id, length & 0xFF, length >> 8]) + body
    crc = crc16(head)
    return head + bytes([crc & 0xFF, crc >> 8])


def _u16(x: int) -> bytes:
    return bytes([x & 0xFF, (x >> 8) & 0xFF])


def ping(dxl_id: int) -> bytes:
    """Ping: the status returns model number (2 bytes) and firmware version (1 byte)."""
    return packet(dxl_id, PING)


def read(dxl_id: int, address: int, size: int) -> bytes:
    """Read ``size`` bytes from ``address``."""
    return packet(dxl_id, READ, _u16(address) + _u16(size))


def write(dxl_id: int, address: int, data: bytes) -> bytes:
    """Write ``data`` at ``address``."""
    return packet(dxl_id, WRITE, _u16(address) + bytes(data))


def sync_read(address: int, size: int, ids: Sequence[int], fast: bool = False) -> bytes:
    """Sync Read (one status per id, in the listed order) or Fast Sync Read (one status for all)."""
    return packet(BROADCAST_ID, FAST_SYNC_READ if fast else SYNC_READ, _u16(address) + _u16(size) + bytes(ids))


def sync_write(address: int, size: int, data: Mapping[int, bytes]) -> bytes:
    """Sync Write ``size`` bytes at ``address`` of each id (no status is returned)."""
    return packet(BROADCAST_ID, SYNC_WRITE, _u16(address) + _u16(size) + id_data_blocks(data, size))


def bulk_read(items: Iterable[tuple[int, int, int]]) -> bytes:
    """Bulk Read of ``(id, address, size)`` items (each id its own address and size)."""
    params = bytearray()
    for dxl_id, address, size in items:
        params.append(dxl_id)
        params += _u16(address) + _u16(size)
    return packet(BROADCAST_ID, BULK_READ, bytes(params))


def bulk_write(items: Iterable[tuple[int, int, bytes]]) -> bytes:
    """Bulk Write of ``(id, address, data)`` items (no status is returned)."""
    params = bytearray()
    for dxl_id, address, data in items:
        params.append(dxl_id)
        params += _u16(address) + _u16(len(data)) + bytes(data)
    return packet(BROADCAST_ID, BULK_WRITE, bytes(params))


def status(dxl_id: int, error: int = 0, data: bytes = b"") -> bytes:
    """A status packet (what a servo sends back)."""
    return packet(dxl_id, STATUS, bytes([error]) + bytes(data))


def fast_sync_status(replies: Sequence[tuple[int, int, bytes]]) -> bytes:
    """The one status packet of a Fast Sync Read for ``(id, error, data)`` replies, in order.

    Parameters are ``ERR ID DATA CRC`` per servo, the last one's CRC being the packet's own CRC;
    each inner CRC is the running CRC of the packet up to that servo's data (every servo on the
    bus continues the packet the previous one started).
    """
    if not replies:
        raise ValueError("a Fast Sync Read status needs at least one reply")
    size = len(replies[0][2])
    body = bytearray([STATUS])
    chunks: list[bytes] = []
    for i, (dxl_id, error, data) in enumerate(replies):
        if len(data) != size:
            raise ValueError("every reply of a Fast Sync Read has the same size")
        chunks.append(bytes([error, dxl_id]) + bytes(data))
        if i < len(replies) - 1:
            chunks.append(b"\x00\x00")  # placeholder for the inner CRC, filled below
    # Lay out the packet, then fill inner CRCs from the left (each covers everything before it).
    body += b"".join(chunks)
    length = len(body) + 2
    out = bytearray(HEADER + bytes([BROADCAST_ID, length & 0xFF, length >> 8]) + body)
    pos = len(HEADER) + 3 + 1
    for _dxl_id, _error, data in replies[:-1]:
        pos += 2 + len(data)
        crc = crc16(out[:pos])
        out[pos : pos + 2] = bytes([crc & 0xFF, crc >> 8])
        pos += 2
    crc = crc16(out)
    return bytes(out + bytes([crc & 0xFF, crc >> 8]))


def split_fast_sync(params: bytes, size: int) -> list[tuple[int, int, bytes]]:
    """``(id, error, data)`` per servo from a Fast Sync Read status's parameters.

    ``params`` is what follows the instruction byte 0x55 (the packet's CRC already checked).
    Raises ``ValueError`` when the length does not fit whole replies of ``size`` bytes.
    """
    block = size + 2
    n, rest = divmod(len(params) + 2, block + 2)
    if rest or n == 0:
        raise ValueError(f"Fast Sync Read status of {len(params)} parameter bytes does not hold replies of {size} bytes")
    out = []
    for i in range(n):
        start = i * (block + 2)
        error, dxl_id = params[start], params[start + 1]
        out.append((dxl_id, error, bytes(params[start + 2 : start + block])))
    return out


def describe_error(error: int, hardware_status: int | None = None) -> list[str]:
    """The status error byte (and, after an alert, the Hardware Error Status) in words."""
    words = []
    number = error & 0x7F
    if number:
        words.append(ERROR_NUMBERS.get(number, f"unknown error {number}"))
    if error & ALERT_BIT:
        words.append("alert (hardware error)")
        if hardware_status:
            words += [w for bit, w in HARDWARE_ERROR_BITS.items() if hardware_status >> bit & 1]
    return words
