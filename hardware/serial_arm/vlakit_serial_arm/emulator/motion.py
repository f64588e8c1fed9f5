"""A scripted hand for an emulated leader arm: it moves the (torque-off) joints along a motion.

EMULATION of a person moving a leader arm, for dry runs of teleoperation and recording. The
motion's clock runs only while the arm is being talked to: each packet advances it by the time
since the previous packet, at most ``max_gap`` seconds. So the arm stands at its start pose until
a host reads it, moves while ``vlakit teleop`` reads it every tick, and a one-shot read (``vlakit
calibrate --non-interactive``) sees it at the start pose.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

import numpy as np
from vlakit_serial_arm.calibration import Normalizer, nominal_calibration
from vlakit_serial_arm.emulator.servo import EmulatedServo
from vlakit_serial_arm.profile import ArmProfile

#: motions a script can play, by name
MOTIONS = ("wave",)


class ScriptedMotion:
    """The motion ``name`` of ``profile``'s joints (``wave``: each joint a sine of ``period_s``
    seconds, phase-shifted along the arm, 30 degrees (or 40% of its half-range, whichever is
    less) peak to peak; a gripper opening from closed to 60 percent and back); every joint is
    at its zero pose (the gripper closed) at the start."""

    def __init__(self, profile: ArmProfile, name: str = "wave", period_s: float = 4.0, max_gap: float = 0.1) -> None:
        if name not in MOTIONS:
            raise ValueError(f"unknown motion {name!r}; known motions: {', '.join(MOTIONS)}")
        self.profile = profile
        self.period_s = period_s
        self.max_gap = max_gap
        self.normalizer = Normalizer(profile, nominal_calibration(profile))
        motors = list(profile.motors.values())
        self.ids = [m.id for m in motors]
        self.percent = np.array([m.unit == "percent" for m in motors])
        half = np.array([(m.limits[1] - m.limits[0]) / 2 for m in motors])
        self.amplitude = np.where(self.percent, 30.0, np.minimum(30.0, 0.4 * half))
        self.phase = np.linspace(0.0, math.pi, len(motors), endpoint=False)
        self.t = 0.0
        self._last: float | None = None

    def pose(self, t: float) -> np.ndarray:
        """Normalized joint positions ``[M]`` (degrees / percent) at ``t`` seconds of the motion."""
        angle = 2 * math.pi * t / self.period_s
        joint = np.sin(angle + self.phase) - np.sin(self.phase)  # in [-2, 2], 0 at t = 0
        grip = 1.0 - np.cos(angle)  # in [0, 2], 0 at t = 0
        out = self.amplitude * np.where(self.percent, grip, joint / 2)
        return out.astype(np.float32)

    def advance(self, servos: Mapping[int, EmulatedServo], now: float | None = None) -> None:
        """Advance the clock by the time since the last packet (at most ``max_gap``) and move the
        servos there, as a hand would (present position only)."""
        now = time.monotonic() if now is None else now
        if self._last is not None:
            self.t += min(max(0.0, now - self._last), self.max_gap)
        self._last = now
        raw = self.normalizer.to_raw(self.pose(self.t))
        for motor_id, value in zip(self.ids, raw.tolist()):
            if motor_id in servos:
                servos[motor_id].move_by_hand(int(value))
