"""Control tables of servo models, read from the YAML files in ``tables/`` (data, not code).

A field is ``{address, size, access: R|RW, area: eeprom|ram, default, sign}``; ``sign`` is
``twos`` (two's complement, Dynamixel) or a bit number (sign-magnitude, Feetech: 15 for
positions and speeds, 11 for the homing offset); absent means unsigned.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from vlakit_serial_arm.protocol.feetech import decode_sign_magnitude, encode_sign_magnitude

from vlakit import RobotError

Protocol = Literal["dynamixel", "feetech"]


class FieldSpec(BaseModel):
    """One entry of a control table; values are integers in the servo's own units."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: int = Field(ge=0, le=0xFFFF)
    size: Literal[1, 2, 4]
    access: Literal["R", "RW"]
    area: Literal["eeprom", "ram"]
    default: int | None = None
    sign: Literal["twos"] | int | None = None

    def encode(self, value: int) -> bytes:
        """``value`` as the ``size`` little-endian bytes the servo stores."""
        value = int(value)
        if self.sign == "twos":
            return value.to_bytes(self.size, "little", signed=True)
        if isinstance(self.sign, int):
            return encode_sign_magnitude(value, self.sign).to_bytes(self.size, "little")
        return value.to_bytes(self.size, "little")

    def decode(self, data: bytes) -> int:
        """Inverse of :meth:`encode`."""
        if len(data) != self.size:
            raise ValueError(f"field of {self.size} bytes decoded from {len(data)} bytes")
        if self.sign == "twos":
            return int.from_bytes(data, "little", signed=True)
        raw = int.from_bytes(data, "little")
        return decode_sign_magnitude(raw, self.sign) if isinstance(self.sign, int) else raw


class ControlTable(BaseModel):
    """A servo model: protocol, model number, encoder resolution and its fields by name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    protocol: Protocol
    model_number: int = Field(ge=0, le=0xFFFF)
    resolution: int = Field(gt=0)
    fields: dict[str, FieldSpec]

    def field(self, name: str) -> FieldSpec:
        """The field ``name``; a clear error names the model and what exists."""
        try:
            return self.fields[name]
        except KeyError:
            raise RobotError(
                f"servo model {self.model} has no control-table field {name!r} "
                f"(it has {', '.join(sorted(self.fields))})"
            ) from None

    @property
    def size(self) -> int:
        """Bytes of memory the table spans."""
        return max(f.address + f.size for f in self.fields.values())


def available_models() -> list[str]:
    """Names of the models with a table in this package."""
    folder = resources.files("vlakit_serial_arm") / "tables"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@cache
def load_table(model: str) -> ControlTable:
    """The control table of ``model`` (e.g. ``sts3215``, ``xl330-m288``)."""
    name = model.lower()
    path = resources.files("vlakit_serial_arm") / "tables" / f"{name}.yaml"
    if not path.is_file():
        raise RobotError(f"unknown servo model {model!r}; known models: {', '.join(available_models())}")
    try:
        return ControlTable.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except ValidationError as exc:  # a broken package file, not a user error
        raise RuntimeError(f"control table {path} is invalid: {exc}") from exc
