"""A software bus of servos on a pseudo-terminal, speaking Dynamixel 2.0 or Feetech SCS/STS."""

from vlakit_serial_arm.emulator.faults import Faults
from vlakit_serial_arm.emulator.server import Emulator
from vlakit_serial_arm.emulator.servo import EmulatedServo

__all__ = ["EmulatedServo", "Emulator", "Faults"]
