"""vlakit_serial_arm: low-cost serial-bus arms (SO-101, Koch v1.1) for vlakit.

Registers, through vlakit's public plugin API:

* robot ``serial-arm``: an arm described by a YAML profile, on Dynamixel Protocol 2.0 or
  Feetech SCS/STS servos over pyserial (:class:`~vlakit_serial_arm.driver.SerialArmDriver`);
* document kind ``serial-arm``: robot profiles, checked by ``vlakit validate PROFILE``;
* commands ``vlakit emulate``, ``vlakit calibrate``, ``vlakit teleop`` and ``vlakit bench serial-arm``.

Importing this module is light: the driver, bus and emulator load on first use.
"""

from __future__ import annotations

from typing import Any

from vlakit_serial_arm.config import SerialArmConfig

from vlakit import hookimpl

#: The vlakit plugin API this plugin is written for.
VLAKIT_PLUGIN_API = 1

__all__ = ["SerialArmConfig"]


def make_driver(config: SerialArmConfig) -> Any:
    """Factory of the ``serial-arm`` robot."""
    from vlakit_serial_arm.driver import SerialArmDriver

    return SerialArmDriver(config)


@hookimpl
def register_robots(register: Any) -> None:
    register(
        "serial-arm",
        make_driver,
        config=SerialArmConfig,
        example={"profile": "so101-follower", "emulate": True},
        description="serial-bus arm from a YAML profile (SO-101, Koch v1.1; Dynamixel 2.0 or Feetech STS)",
    )


@hookimpl
def register_commands(cli: Any) -> None:
    from vlakit_serial_arm.commands import add_commands

    add_commands(cli)


def check_profile(profile: Any) -> str:
    """Document check of a validated profile: a one-line summary."""
    motors = ", ".join(f"{n}={m.id}:{m.model}" for n, m in profile.motors.items())
    return f"{profile.name}: {profile.role}, {profile.protocol} at {profile.baudrate} baud, motors {motors}"


@hookimpl
def register_document_kinds(register: Any) -> None:
    from vlakit_serial_arm.profile import ArmProfile

    register("serial-arm", check_profile, config=ArmProfile, description="serial-arm robot profile")
