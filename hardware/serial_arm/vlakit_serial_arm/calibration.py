"""Calibration: per motor, the raw encoder value of the zero pose and the raw range of travel.

Normalization (see :class:`Normalizer`): a ``deg`` motor reads ``(raw - zero) * 360 /
resolution`` degrees (negated when ``invert``); a ``percent`` motor reads ``(raw - min) / (max -
min) * 100``. Goals are clamped to the calibrated ``[min, max]``. The file (YAML) names the
profile and each motor's id and model, so a calibration made for another arm is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from vlakit_serial_arm.errors import CalibrationError, validation_lines
from vlakit_serial_arm.profile import ArmProfile

from vlakit import atomic_write_text

#: Environment variable naming the folder of calibration files (default ``~/.config/vlakit/calibration``).
CALIBRATION_DIR_ENV = "VLAKIT_CALIBRATION_DIR"


class MotorCalibration(BaseModel):
    """Raw encoder values of one motor: ``zero`` (the zero pose), ``min`` and ``max`` of travel."""

    model_config = ConfigDict(extra="forbid")

    id: int
    model: str
    zero: int
    min: int
    max: int

    @model_validator(mode="after")
    def _ordered(self) -> MotorCalibration:
        if not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be below max ({self.max})")
        return self


class Calibration(BaseModel):
    """The calibration of one arm (``profile`` is the profile's name)."""

    model_config = ConfigDict(extra="forbid")

    profile: str
    motors: dict[str, MotorCalibration] = Field(min_length=1)

    def check_matches(self, profile: ArmProfile, where: str) -> None:
        """Raise :class:`CalibrationError` unless this calibration was made for ``profile``."""
        problems = []
        if self.profile != profile.name:
            problems.append(f"it was made for profile {self.profile!r}, not {profile.name!r}")
        missing = sorted(set(profile.motors) - set(self.motors))
        extra = sorted(set(self.motors) - set(profile.motors))
        if missing:
            problems.append(f"motors {missing} are not calibrated")
        if extra:
            problems.append(f"it calibrates motors {extra} the profile does not have")
        for name, motor in profile.motors.items():
            cal = self.motors.get(name)
            if cal is not None and (cal.id != motor.id or cal.model != motor.model):
                problems.append(
                    f"motor {name!r} is id {motor.id} ({motor.model}) in the profile but id {cal.id} ({cal.model}) in the calibration"
                )
        if problems:
            raise CalibrationError(
                f"calibration {where} does not match the arm: {'; '.join(problems)}; "
                f"recalibrate with `vlakit calibrate --robot {profile.name} --port PORT`"
            )


def default_calibration_path(profile: ArmProfile) -> Path:
    """Where ``vlakit calibrate`` writes and the driver looks by default."""
    root = os.environ.get(CALIBRATION_DIR_ENV) or Path.home() / ".config" / "vlakit" / "calibration"
    return Path(root) / f"{profile.name}.yaml"


def load_calibration(path: str | Path, profile: ArmProfile) -> Calibration:
    """Read and check the calibration at ``path`` for ``profile``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(
            f"no calibration for {profile.name} at {path}; run `vlakit calibrate --robot {profile.name} "
            "--port PORT` first (or pass calibration: FILE)"
        ) from None
    except (OSError, yaml.YAMLError) as exc:
        raise CalibrationError(f"cannot read calibration {path}: {exc}") from None
    try:
        calibration = Calibration.model_validate(data)
    except ValidationError as exc:
        raise CalibrationError(f"{path}: invalid calibration:\n" + validation_lines(exc)) from None
    calibration.check_matches(profile, str(path))
    return calibration


def save_calibration(calibration: Calibration, path: str | Path) -> None:
    """Write ``calibration`` atomically (nothing half written)."""
    text = yaml.safe_dump(calibration.model_dump(), sort_keys=False)
    atomic_write_text(path, text)


def nominal_calibration(profile: ArmProfile) -> Calibration:
    """Zero at mid-encoder and the whole encoder range: what an emulated arm is built with."""
    motors = {}
    for name, motor in profile.motors.items():
        res = profile.table(name).resolution
        span = round(motor.span_deg / 360 * res)
        low, high = (res // 2, res // 2 + span) if motor.unit == "percent" else (0, res - 1)
        motors[name] = MotorCalibration(id=motor.id, model=motor.model, zero=res // 2, min=low, max=high)
    return Calibration(profile=profile.name, motors=motors)


class Normalizer:
    """Raw encoder values <-> normalized units (degrees, percent), vectorized over motors."""

    def __init__(self, profile: ArmProfile, calibration: Calibration) -> None:
        names = list(profile.motors)
        cal = [calibration.motors[n] for n in names]
        motors = [profile.motors[n] for n in names]
        res = np.array([profile.table(n).resolution for n in names], dtype=np.float64)
        self.percent = np.array([m.unit == "percent" for m in motors])
        sign = np.array([-1.0 if m.invert else 1.0 for m in motors])
        zero = np.array([c.zero for c in cal], dtype=np.float64)
        self.low = np.array([c.min for c in cal], dtype=np.float64)
        self.high = np.array([c.max for c in cal], dtype=np.float64)
        # normalized = (raw - origin) * scale
        span = self.high - self.low
        self.origin = np.where(self.percent, np.where(sign > 0, self.low, self.high), zero)
        self.scale = np.where(self.percent, 100.0 / span, 360.0 / res) * sign

    def to_units(self, raw: np.ndarray) -> np.ndarray:
        """Raw values ``[M]`` -> normalized ``float32`` ``[M]``."""
        return ((np.asarray(raw, dtype=np.float64) - self.origin) * self.scale).astype(np.float32)

    def to_raw(self, units: np.ndarray) -> np.ndarray:
        """Normalized ``[M]`` -> raw ``int64`` ``[M]``, clamped to the calibrated range."""
        raw = np.rint(np.asarray(units, dtype=np.float64) / self.scale + self.origin)
        return np.clip(raw, self.low, self.high).astype(np.int64)
