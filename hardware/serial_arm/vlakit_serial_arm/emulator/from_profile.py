"""An emulator whose servos are those of a robot profile."""

from __future__ import annotations

from collections.abc import Mapping

from vlakit_serial_arm.emulator.faults import Faults
from vlakit_serial_arm.emulator.server import Emulator
from vlakit_serial_arm.emulator.servo import EmulatedServo
from vlakit_serial_arm.profile import ArmProfile


def emulator_for_profile(
    profile: ArmProfile, positions: Mapping[str, int] | None = None, faults: Faults | None = None
) -> Emulator:
    """An (unstarted) emulator with one servo per motor of ``profile``, at raw ``positions``
    (default: mid-encoder, the nominal zero pose)."""
    servos = []
    for name, motor in profile.motors.items():
        table = profile.table(name)
        start = (positions or {}).get(name, table.resolution // 2)
        servos.append(EmulatedServo(table, motor.id, start))
    return Emulator(profile.protocol, servos, faults)
