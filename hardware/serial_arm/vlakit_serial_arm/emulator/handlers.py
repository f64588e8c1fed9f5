"""How emulated servos answer instruction packets, per protocol.

Each handler takes the decoded instruction and the bus's servos by id, applies it, and returns
the replies as ``(id, bytes)`` in the order the servos send them (a reply per servo, so that
faults can silence one motor). Broadcast writes are answered by nobody, as on real buses.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Set

from vlakit_serial_arm.emulator.servo import DATA_LENGTH_ERROR, EmulatedServo
from vlakit_serial_arm.protocol import dynamixel as dxl
from vlakit_serial_arm.protocol import feetech as ft
from vlakit_serial_arm.protocol.packet import Packet

Replies = list[tuple[int, bytes]]
ErrorOf = Callable[[int], int]


def _u16(data: bytes, at: int) -> int:
    return data[at] | data[at + 1] << 8


def dynamixel(p: Packet, servos: Mapping[int, EmulatedServo], error_of: ErrorOf, silent: Set[int]) -> Replies:
    """Answer one Protocol 2.0 instruction (``silent``: ids that do not answer)."""
    inst, prm = p.instruction, p.params
    if inst == dxl.PING:
        targets = sorted(servos) if p.id == dxl.BROADCAST_ID else [p.id] if p.id in servos else []
        return [
            (i, dxl.status(i, error_of(i), servos[i].read(0, 2) + bytes([servos[i].get("firmware_version")])))
            for i in targets
        ]
    if inst == dxl.READ and p.id in servos and len(prm) == 4:
        data = servos[p.id].read(_u16(prm, 0), _u16(prm, 2))
        if data is None:
            return [(p.id, dxl.status(p.id, DATA_LENGTH_ERROR))]
        return [(p.id, dxl.status(p.id, error_of(p.id), data))]
    if inst == dxl.WRITE and p.id in servos and len(prm) >= 3:
        err = servos[p.id].write(_u16(prm, 0), prm[2:])
        return [(p.id, dxl.status(p.id, err or error_of(p.id)))]
    if inst in (dxl.SYNC_READ, dxl.FAST_SYNC_READ) and p.id == dxl.BROADCAST_ID and len(prm) >= 5:
        address, size = _u16(prm, 0), _u16(prm, 2)
        ids = [i for i in prm[4:] if i in servos]
        if inst == dxl.SYNC_READ:
            return [(i, dxl.status(i, error_of(i), servos[i].read(address, size) or b"")) for i in ids]
        parts = [(i, error_of(i), servos[i].read(address, size) or bytes(size)) for i in ids]
        if not parts:
            return []
        status = dxl.fast_sync_status(parts)
        for k, i in enumerate(ids):
            if i in silent:  # the chain breaks off where a servo does not continue it
                status = status[: 8 + k * (size + 4)] if k else b""
                break
        return [(dxl.BROADCAST_ID, status)]
    if inst == dxl.SYNC_WRITE and p.id == dxl.BROADCAST_ID and len(prm) >= 4:
        address, size = _u16(prm, 0), _u16(prm, 2)
        for at in range(4, len(prm) - size, size + 1):
            if prm[at] in servos:
                servos[prm[at]].write(address, prm[at + 1 : at + 1 + size])
        return []
    if inst == dxl.BULK_READ and p.id == dxl.BROADCAST_ID:
        out = []
        for at in range(0, len(prm) - 4, 5):
            i = prm[at]
            if i in servos:
                data = servos[i].read(_u16(prm, at + 1), _u16(prm, at + 3)) or b""
                out.append((i, dxl.status(i, error_of(i), data)))
        return out
    if inst == dxl.BULK_WRITE and p.id == dxl.BROADCAST_ID:
        at = 0
        while at + 5 <= len(prm):
            i, address, size = prm[at], _u16(prm, at + 1), _u16(prm, at + 3)
            if i in servos:
                servos[i].write(address, prm[at + 5 : at + 5 + size])
            at += 5 + size
        return []
    if p.id in servos:
        return [(p.id, dxl.status(p.id, 2))]  # instruction error
    return []


def feetech(p: Packet, servos: Mapping[int, EmulatedServo], error_of: ErrorOf, silent: Set[int]) -> Replies:
    """Answer one SCS/STS instruction."""
    inst, prm = p.instruction, p.params
    if inst == ft.PING and p.id in servos:
        return [(p.id, ft.status(p.id, error_of(p.id)))]
    if inst == ft.READ and p.id in servos and len(prm) == 2:
        data = servos[p.id].read(prm[0], prm[1])
        return [(p.id, ft.status(p.id, error_of(p.id), data or b""))]
    if inst == ft.WRITE and p.id in servos and len(prm) >= 2:
        servos[p.id].write(prm[0], prm[1:])
        return [(p.id, ft.status(p.id, error_of(p.id)))]
    if inst == ft.SYNC_READ and p.id == ft.BROADCAST_ID and len(prm) >= 3:
        address, size = prm[0], prm[1]
        return [(i, ft.status(i, error_of(i), servos[i].read(address, size) or b"")) for i in prm[2:] if i in servos]
    if inst == ft.SYNC_WRITE and p.id == ft.BROADCAST_ID and len(prm) >= 2:
        address, size = prm[0], prm[1]
        for at in range(2, len(prm) - size, size + 1):
            if prm[at] in servos:
                servos[prm[at]].write(address, prm[at + 1 : at + 1 + size])
        return []
    return []
