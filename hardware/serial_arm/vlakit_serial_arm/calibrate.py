"""Recording a calibration: the zero pose, then the range of every motor, torque off.

Interactive: the user poses the arm and presses Enter, then moves every joint through its
range while positions are sampled until Enter. Non-interactive (for tests and scripted setups):
the present pose is the zero and the profile's limits give the range.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
from vlakit_serial_arm.bus import MotorBus
from vlakit_serial_arm.calibration import Calibration, MotorCalibration
from vlakit_serial_arm.driver import motor_fields
from vlakit_serial_arm.errors import CalibrationError
from vlakit_serial_arm.profile import ArmProfile


def _read(bus: MotorBus, profile: ArmProfile) -> np.ndarray:
    fields = motor_fields(profile, "present_position")
    values = bus.sync_read(fields)
    return np.array([values[m.id] for m in profile.motors.values()], dtype=np.int64)


def _build(profile: ArmProfile, zero: np.ndarray, low: np.ndarray, high: np.ndarray) -> Calibration:
    motors = {}
    for k, (name, motor) in enumerate(profile.motors.items()):
        lo, hi = int(low[k]), int(high[k])
        if hi <= lo:  # a motor that was not moved: refuse rather than guess a range
            raise CalibrationError(
                f"motor {name!r} did not move during calibration (range {lo}..{hi}); "
                "move every joint through its whole range before pressing Enter"
            )
        motors[name] = MotorCalibration(id=motor.id, model=motor.model, zero=int(zero[k]), min=lo, max=hi)
    return Calibration(profile=profile.name, motors=motors)


def calibrate_from_limits(bus: MotorBus, profile: ArmProfile) -> Calibration:
    """Non-interactive: zero = present pose; range = the profile's limits around it (a
    ``percent`` motor: closed at the present pose, open ``span_deg`` further)."""
    bus.sync_write(motor_fields(profile, "torque_enable"), dict.fromkeys([m.id for m in profile.motors.values()], 0))
    zero = _read(bus, profile)
    low, high = np.empty_like(zero), np.empty_like(zero)
    for k, (name, motor) in enumerate(profile.motors.items()):
        res = profile.table(name).resolution
        if motor.unit == "percent":
            span = round(motor.span_deg / 360 * res) * (-1 if motor.invert else 1)
            a, b = zero[k], zero[k] + span
        else:
            sign = -1 if motor.invert else 1
            a = zero[k] + sign * round(motor.limits[0] / 360 * res)
            b = zero[k] + sign * round(motor.limits[1] / 360 * res)
        low[k], high[k] = max(0, min(a, b)), min(res - 1, max(a, b))
    return _build(profile, zero, low, high)


def calibrate_interactive(
    bus: MotorBus,
    profile: ArmProfile,
    prompt: Callable[[str], None],
    wait_enter: Callable[[], None],
    period: float = 0.02,
) -> Calibration:
    """Interactive: ``prompt(text)`` shows an instruction; ``wait_enter()`` blocks until the
    user confirms (it runs in a thread while ranges are sampled every ``period`` seconds)."""
    bus.sync_write(motor_fields(profile, "torque_enable"), dict.fromkeys([m.id for m in profile.motors.values()], 0))
    prompt("Move the arm to its zero pose (every joint in the middle of its range, gripper closed), then press Enter.")
    wait_enter()
    zero = _read(bus, profile)
    prompt("Move every joint (and the gripper) through its whole range, then press Enter.")
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (wait_enter(), done.set()), daemon=True)
    waiter.start()
    low, high = zero.copy(), zero.copy()
    while not done.wait(period):
        raw = _read(bus, profile)
        np.minimum(low, raw, out=low)
        np.maximum(high, raw, out=high)
    return _build(profile, zero, low, high)
