"""Feetech SCS/STS packets (Feetech's communication protocol manual for SCS/STS/SMS servos).

Instruction packet: ``FF FF | ID | LEN | INST | PARAMS | CHK`` with ``LEN = len(PARAMS) + 2``
and ``CHK = ~(ID + LEN + INST + sum(PARAMS)) & 0xFF``; status packet: the same with the error
byte in place of INST. Multi-byte fields are little-endian on STS/SMS servos. Signed fields are
sign-magnitude: bit 15 for positions and speeds, bit 11 for the homing offset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vlakit_serial_arm.protocol.packet import id_data_blocks

HEADER = b"\xff\xff"
BROADCAST_ID = 0xFE

PING = 0x01
READ = 0x02
WRITE = 0x03
REG_WRITE = 0x04
ACTION = 0x05
RESET = 0x06
SYNC_READ = 0x82
SYNC_WRITE = 0x83

#: Bits of the status packet's error byte.
ERROR_BITS = {
    0: "input voltage error",
    1: "angle sensor error",
    2: "overheating",
    3: "overcurrent",
    5: "overload",
}


def checksum(body: bytes | bytearray) -> int:
    """``~sum(body) & 0xFF`` over ID, LEN, INST/ERR and parameters."""
    return ~sum(body) & 0xFF


def packet(servo_id: int, instruction: int, params: bytes = b"") -> bytes:
    """One packet; for a status, ``instruction`` is the error byte."""
    if not 0 <= servo_id <= 0xFE:
        raise ValueError(f"Feetech id must be 0..254, got {servo_id}")
    if len(params) > 253:
        raise ValueError(f"a Feetech packet holds at most 253 parameter bytes, got {len(params)}")
    body = bytes([servo_id, len(params) + 2, instruction]) + bytes(params)
    return HEADER + body + bytes([checksum(body)])


def ping(servo_id: int) -> bytes:
    """Ping (the status carries no parameters)."""
    return packet(servo_id, PING)


def read(servo_id: int, address: int, size: int) -> bytes:
    """Read ``size`` bytes from ``address``."""
    return packet(servo_id, READ, bytes([address, size]))


def write(servo_id: int, address: int, data: bytes) -> bytes:
    """Write ``data`` at ``address``."""
    return packet(servo_id, WRITE, bytes([address]) + bytes(data))


def sync_read(address: int, size: int, ids: Sequence[int]) -> bytes:
    """Sync Read: every listed servo answers with its own status packet, in the listed order."""
    return packet(BROADCAST_ID, SYNC_READ, bytes([address, size]) + bytes(ids))


def sync_write(address: int, size: int, data: Mapping[int, bytes]) -> bytes:
    """Sync Write ``size`` bytes at ``address`` of each id (no status is returned)."""
    return packet(BROADCAST_ID, SYNC_WRITE, bytes([address, size]) + id_data_blocks(data, size))


def status(servo_id: int, error: int = 0, data: bytes = b"") -> bytes:
    """A status packet (what a servo sends back)."""
    return packet(servo_id, error, data)


def describe_error(error: int) -> list[str]:
    """The status error byte in words."""
    words = [w for bit, w in ERROR_BITS.items() if error >> bit & 1]
    unknown = error & ~sum(1 << b for b in ERROR_BITS)
    if unknown:
        words.append(f"unknown error bits 0x{unknown:02X}")
    return words


def encode_sign_magnitude(value: int, sign_bit: int) -> int:
    """``value`` as sign-magnitude with the sign in bit ``sign_bit`` (15 or 11)."""
    limit = (1 << sign_bit) - 1
    magnitude = abs(value)
    if magnitude > limit:
        raise ValueError(f"{value} does not fit sign-magnitude with the sign in bit {sign_bit} (|v| <= {limit})")
    return magnitude | (1 << sign_bit) if value < 0 else magnitude


def decode_sign_magnitude(raw: int, sign_bit: int) -> int:
    """Inverse of :func:`encode_sign_magnitude` (bits above ``sign_bit`` are ignored)."""
    magnitude = raw & ((1 << sign_bit) - 1)
    return -magnitude if raw >> sign_bit & 1 else magnitude
