"""The decoded form of a packet of either protocol."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


def id_data_blocks(data: Mapping[int, bytes], size: int) -> bytes:
    """``ID DATA ID DATA ...`` of a Sync Write (both protocols), each ``DATA`` ``size`` bytes."""
    out = bytearray()
    for motor_id, value in data.items():
        if len(value) != size:
            raise ValueError(f"sync write of {size} bytes got {len(value)} bytes for id {motor_id}")
        out.append(motor_id)
        out += value
    return bytes(out)


@dataclass(frozen=True)
class Packet:
    """One packet whose checksum or CRC was verified.

    An instruction packet has ``instruction`` set and ``error`` ``None``; a status packet has
    ``error`` set (its error byte) and ``instruction`` ``None``. ``params`` are the parameter
    bytes (unstuffed; for a status, the data after the error byte); ``raw`` the bytes on the wire.
    """

    id: int
    params: bytes
    instruction: int | None = None
    error: int | None = None
    raw: bytes = b""

    @property
    def is_status(self) -> bool:
        return self.error is not None
