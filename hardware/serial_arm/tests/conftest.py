"""Fixtures: emulated buses on real pseudo-terminals, opened with pyserial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from vlakit_serial_arm.bus import MotorBus
from vlakit_serial_arm.control_table import load_table
from vlakit_serial_arm.emulator import EmulatedServo, Emulator
from vlakit_serial_arm.transport import SerialTransport

MODELS = {"dynamixel": "xl430-w250", "feetech": "sts3215"}


@pytest.fixture(params=["dynamixel", "feetech"])
def protocol(request) -> str:
    return request.param


@pytest.fixture
def emulator(protocol: str) -> Iterator[Emulator]:
    table = load_table(MODELS[protocol])
    emu = Emulator(protocol, [EmulatedServo(table, i, 1000 + 10 * i) for i in range(1, 7)])
    with emu:
        yield emu


@pytest.fixture
def bus(emulator: Emulator) -> Iterator[MotorBus]:
    transport = SerialTransport(emulator.port, 1_000_000, emulator.protocol)
    transport.open()
    try:
        yield MotorBus(transport, emulator.protocol, timeout=0.05, retries=2)
    finally:
        transport.close()
