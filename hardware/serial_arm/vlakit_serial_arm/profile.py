"""Robot profiles: an arm described in YAML (motors, ids, models, limits, safety), validated.

A profile is a YAML mapping whose top-level key ``serial-arm`` names the arm; ``vlakit
validate FILE`` recognizes it by that key. Packaged profiles live in ``profiles/``; a user's
own arm is a file anywhere, passed by path.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from vlakit_serial_arm.cameras import CameraSettings
from vlakit_serial_arm.control_table import ControlTable, Protocol, available_models, load_table
from vlakit_serial_arm.errors import ProfileError, validation_lines

Unit = Literal["deg", "percent"]


class MotorSpec(BaseModel):
    """One motor: bus ``id``, servo ``model`` (a control table), normalized ``unit`` and
    ``limits`` ``[low, high]`` in that unit (degrees from the calibrated zero, or 0..100 percent
    of the calibrated range); ``invert`` flips the direction; ``max_step`` overrides the
    profile's per-tick change bound; ``span_deg`` is the travel assumed by a non-interactive
    calibration of a ``percent`` motor."""

    model_config = ConfigDict(extra="forbid")

    id: int = Field(ge=0, le=252)
    model: str
    unit: Unit = "deg"
    limits: tuple[float, float]
    invert: bool = False
    max_step: float | None = Field(default=None, gt=0)
    span_deg: float = Field(default=90.0, gt=0, le=360)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        models = available_models()
        if value.lower() not in models:
            raise ValueError(f"unknown servo model {value!r}; known models: {', '.join(models)}")
        return value.lower()

    @model_validator(mode="after")
    def _check_limits(self) -> MotorSpec:
        low, high = self.limits
        if not low < high:
            raise ValueError(f"limits must be [low, high] with low < high, got {list(self.limits)}")
        if self.unit == "percent" and (low < 0 or high > 100):
            raise ValueError(f"percent limits must lie within [0, 100], got {list(self.limits)}")
        if self.unit == "deg" and (low < -180 or high > 180):
            raise ValueError(f"degree limits must lie within [-180, 180], got {list(self.limits)}")
        return self


class SafetySpec(BaseModel):
    """``max_step_deg`` / ``max_step_percent``: largest change of a command per tick (from the
    positions read that tick); ``watchdog_s``: seconds without a command after which the arm
    holds its present position."""

    model_config = ConfigDict(extra="forbid")

    max_step_deg: float = Field(default=10.0, gt=0)
    max_step_percent: float = Field(default=20.0, gt=0)
    watchdog_s: float = Field(default=0.5, gt=0)


class ArmProfile(BaseModel):
    """A serial-bus arm: its motors on one bus of ``protocol`` at ``baudrate``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(alias="serial-arm", pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    role: Literal["follower", "leader"] = "follower"
    protocol: Protocol
    baudrate: int = Field(default=1_000_000, gt=0)
    control_hz: float = Field(default=30.0, gt=0, le=1000)
    timeout_s: float = Field(default=0.05, gt=0, le=5)
    retries: int = Field(default=2, ge=0, le=10)
    motors: dict[str, MotorSpec] = Field(min_length=1)
    safety: SafetySpec = SafetySpec()
    #: cameras by name (needs the ``cameras`` extra: OpenCV)
    cameras: dict[str, CameraSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_bus(self) -> ArmProfile:
        ids: dict[int, str] = {}
        for name, motor in self.motors.items():
            if motor.id in ids:
                raise ValueError(f"motors {ids[motor.id]!r} and {name!r} share id {motor.id}")
            ids[motor.id] = name
            table = load_table(motor.model)
            if table.protocol != self.protocol:
                raise ValueError(
                    f"motor {name!r} is a {motor.model} ({table.protocol}) on a {self.protocol} bus"
                )
        return self

    def table(self, motor: str) -> ControlTable:
        """The control table of ``motor``'s model."""
        return load_table(self.motors[motor].model)

    def max_steps(self) -> list[float]:
        """Per-tick change bound of each motor, in its unit."""
        out = []
        for motor in self.motors.values():
            default = self.safety.max_step_deg if motor.unit == "deg" else self.safety.max_step_percent
            out.append(motor.max_step or default)
        return out


def packaged_profiles() -> list[str]:
    """Names of the profiles shipped in this package."""
    folder = resources.files("vlakit_serial_arm") / "profiles"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def profile_from_mapping(data: object, where: str) -> ArmProfile:
    """Validate a parsed profile; errors name ``where`` and the dotted path."""
    if not isinstance(data, dict) or "serial-arm" not in data:
        raise ProfileError(f"{where}: a serial-arm profile is a mapping whose key 'serial-arm' names the arm")
    try:
        return ArmProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(f"{where}: invalid serial-arm profile:\n" + validation_lines(exc)) from None


def load_profile(name_or_path: str | Path) -> ArmProfile:
    """A packaged profile by name (``so101-follower``) or a profile file by path."""
    text_name = str(name_or_path)
    path = Path(text_name)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
        where = str(path)
    else:
        packaged = resources.files("vlakit_serial_arm") / "profiles" / f"{text_name}.yaml"
        if not packaged.is_file():
            raise ProfileError(
                f"unknown robot profile {text_name!r}: not a file, and not one of the packaged "
                f"profiles ({', '.join(packaged_profiles())})"
            )
        text, where = packaged.read_text(encoding="utf-8"), f"profile {text_name}"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProfileError(f"{where}: not valid YAML: {exc}") from None
    return profile_from_mapping(data, where)
