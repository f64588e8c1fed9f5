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
    command to them.
    """

    names: tuple[str, ...]
    units: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.names)
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionSpace:
        """Inverse of :meth:`to_dict`."""
        return cls(
            names=tuple(data["names"]),
            units=tuple(data["units"]),
            low=tuple(float(x) for x in data["low"]),
            high=tuple(float(x) for x in data["high"]),
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


@dataclass
class Sample:
    """One training example: a robot step or a vision-language question.

    Robot sample: ``text`` is the instruction, ``action`` the chunk ``[H, D]`` ``float32`` in robot
    units starting at this step, ``answer`` is ``None``.
    Vision-language sample: ``text`` is the question, ``answer`` the answer text, ``action`` is
    ``None``. ``images`` maps camera name to ``uint8`` ``[H, W, 3]``; ``state`` is ``[S]`` or ``None``.
    ``aim`` (optional, ``float32`` ``[2]``) is the point the robot is heading for at this step, as
    ``(x, y)`` fractions of the first camera's width and height from its top-left corner: the
    object to grasp, then where to put it. Only the auxiliary aim loss reads it
    (``model.aim_loss`` in a recipe). ``anchor`` (optional, same form) is where the reference the
    instruction names is: the X of "the object closest to the X" or "next to the X", the pad of
    "on the number 3", the place of "to the top left corner"; a vision backbone may learn from it
    (:meth:`~vlakit.interfaces.VisionBackbone.auxiliary_losses`).
    ``objects`` (optional, ``float32`` ``[K, 2]``, same form) are the centres of the ``K`` objects
    in view and ``object_classes`` (``int64`` ``[K, A]``, given with ``objects``) a class index per
    object for each of ``A`` attributes the dataset names (the tabletop: colour, shape, size); a
    vision backbone may learn to tell objects apart from them.
    """

    images: dict[str, np.ndarray]
    text: str
    action: np.ndarray | None = None
    answer: str | None = None
    state: np.ndarray | None = None
    aim: np.ndarray | None = None
    anchor: np.ndarray | None = None
    objects: np.ndarray | None = None
    object_classes: np.ndarray | None = None

    @property
    def is_robot(self) -> bool:
        """True for a robot (action) sample, False for a vision-language sample."""
        return self.action is not None
