"""Shared value types exchanged between components.

Conventions used throughout vlakit:

* images are ``uint8`` arrays of shape ``[H, W, 3]`` (RGB, height first), keyed by camera name;
* states and actions are ``float32`` arrays in *robot units* (the units named by the
  :class:`ActionSpace`), never normalized: normalization belongs to the action codec;
* an action chunk has shape ``[H, D]`` (``H`` steps of a ``D``-dimensional action), a batch of
  chunks ``[B, H, D]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ActionSpace:
    """Names, units and limits of a robot's action vector (``D`` dimensions).

    ``low`` and ``high`` are inclusive limits in the stated units; the safety layer clamps every
    command to them. ``discrete`` marks the dimensions that take a few levels only (a gripper
    open/close flag, a terminate flag): a policy never averages over their values (default: all
    continuous).
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    discrete: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.names)
        if not self.discrete:
            object.__setattr__(self, "discrete", (False,) * n)
        object.__setattr__(self, "discrete", tuple(bool(x) for x in self.discrete))
        if len(self.discrete) != n:
            raise ValueError(f"ActionSpace: discrete needs one entry per dimension (got {len(self.discrete)} for {n})")
        if not (len(self.units) == len(self.low) == len(self.high) == n):
            raise ValueError(
                f"ActionSpace: names, units, low and high must have one entry per dimension "
                f"(got {n}, {len(self.units)}, {len(self.low)}, {len(self.high)})"
            )
        for name, lo, hi in zip(self.names, self.low, self.high):
            if not lo <= hi:
                raise ValueError(f"ActionSpace: dimension {name!r} has low {lo} > high {hi}")

    @property
    def dim(self) -> int:
        """Number of action dimensions ``D``."""
        return len(self.names)

    @property
    def low_array(self) -> np.ndarray:
        """Lower limits as a ``float32`` array ``[D]``."""
        return np.asarray(self.low, dtype=np.float32)

    @property
    def high_array(self) -> np.ndarray:
        """Upper limits as a ``float32`` array ``[D]``."""
        return np.asarray(self.high, dtype=np.float32)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return {
            "names": list(self.names),
            "units": list(self.units),
            "low": [float(x) for x in self.low],
            "high": [float(x) for x in self.high],
            "discrete": list(self.discrete),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionSpace:
        """Inverse of :meth:`to_dict`."""
        return cls(
            names=tuple(data["names"]),
            units=tuple(data["units"]),
            low=tuple(float(x) for x in data["low"]),
            high=tuple(float(x) for x in data["high"]),
            discrete=tuple(bool(x) for x in data.get("discrete", ())),
        )

    def mismatch(self, other: ActionSpace) -> str | None:
        """Describe how ``other`` differs from this space, or ``None`` when they are compatible.

        Names and units must agree one to one; limits may differ (the robot's own limits win).
        """
        if self.names != other.names:
            return f"action names differ: {list(self.names)} vs {list(other.names)}"
        if self.units != other.units:
            return f"action units differ: {list(self.units)} vs {list(other.units)}"
        return None


@dataclass(frozen=True)
class CameraSpec:
    """A camera a robot provides: images are ``uint8`` ``[height, width, 3]``."""

    name: str
    height: int
    width: int


@dataclass
class Observation:
    """What a robot sees at one instant.

    ``images`` maps camera name to a ``uint8`` ``[H, W, 3]`` array; ``state`` is the
    proprioceptive state ``[S]`` ``float32`` in robot units (or ``None``); ``timestamp`` in seconds.
    """

    images: dict[str, np.ndarray]
    state: np.ndarray | None = None
    timestamp: float = 0.0


@dataclass
class Episode:
    """One demonstration or rollout of ``T`` steps.

    ``images`` maps camera name to ``uint8`` ``[T, H, W, 3]``; ``states`` is ``float32`` ``[T, S]``
    or ``None``; ``actions`` is ``float32`` ``[T, D]`` in robot units, the action taken after
    observing step ``t``. ``instruction`` is the natural-language task; ``task`` an optional task
    family label; ``metadata`` anything JSON-compatible (seed, split, success, ...).
    """

    images: dict[str, np.ndarray]
    actions: np.ndarray
    instruction: str
    states: np.ndarray | None = None
    task: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.actions.shape[0])


@dataclass(frozen=True)
class TargetSpec:
    """What a dataset says about one named training target (:attr:`Sample.targets`).

    ``shape`` is one sample's array shape and ``dtype`` its numpy dtype name; ``camera`` names
    the camera an image-space target refers to (its coordinates are fractions of that camera's
    width and height from the top-left corner), ``None`` for a target that is not image-space.
    """

    shape: tuple[int, ...]
    dtype: str = "float32"
    camera: str | None = None
    description: str = ""


@dataclass
class Sample:
    """One training example: a robot step or a vision-language question.

    Robot sample: ``text`` is the instruction, ``action`` the chunk ``[H, D]`` ``float32`` in robot
    units starting at this step, ``answer`` is ``None``.
    Vision-language sample: ``text`` is the question, ``answer`` the answer text, ``action`` is
    ``None``. ``images`` maps camera name to ``uint8`` ``[H, W, 3]``; ``state`` is ``[S]`` or ``None``.
    ``targets`` holds any extra supervision by name (an array each, of the shape and dtype the
    dataset declares in :attr:`~vlakit.interfaces.Dataset.targets`); a sample leaves out a target
    it does not know. Only objectives (``model.objectives`` in a recipe) read them.
    """

    images: dict[str, np.ndarray]
    text: str
    action: np.ndarray | None = None
    answer: str | None = None
    state: np.ndarray | None = None
    targets: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def is_robot(self) -> bool:
        """True for a robot (action) sample, False for a vision-language sample."""
        return self.action is not None
