"""Scene state (objects, markers, gripper) and random non-overlapping layouts.

Positions are in table coordinates (see :mod:`vlakit_tabletop.vocab`): ``x`` right, ``y`` down,
both in ``[0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from vlakit_tabletop.vocab import SIZES

#: Half extent of a marker pad in table units (used to keep objects off markers).
MARKER_RADIUS = 0.12
#: Minimum free space between two objects, table units.
GAP = 0.03


@dataclass
class SceneObject:
    """One object on the table: ``colour`` x ``shape`` x ``size`` at centre ``(x, y)``."""

    colour: str
    shape: str
    size: str
    x: float
    y: float

    @property
    def radius(self) -> float:
        """Radius in table units."""
        return SIZES[self.size]

    @property
    def position(self) -> tuple[float, float]:
        """The centre ``(x, y)`` in table units."""
        return self.x, self.y

    @property
    def name(self) -> str:
        """How instructions call it, e.g. ``"red star"``."""
        return f"{self.colour} {self.shape}"

    def distance(self, x: float, y: float) -> float:
        """Euclidean distance from the centre to ``(x, y)``, table units."""
        return math.hypot(self.x - x, self.y - y)


@dataclass
class Marker:
    """A pad with a digit drawn on the table, centred at ``(x, y)``."""

    digit: str
    x: float
    y: float

    @property
    def position(self) -> tuple[float, float]:
        """The centre ``(x, y)`` in table units."""
        return self.x, self.y


@dataclass
class Scene:
    """Everything the renderer and the success checks need.

    ``gripper`` is the end-effector position ``(x, y)``; ``closed`` whether the gripper is closed;
    ``held`` the index of the object it carries (the object's centre follows the gripper).
    """

    table: str
    objects: list[SceneObject]
    markers: list[Marker] = field(default_factory=list)
    gripper_x: float = 0.5
    gripper_y: float = 0.5
    closed: bool = False
    held: int | None = None

    def copy(self) -> Scene:
        """A deep copy (objects and markers copied)."""
        return replace(
            self,
            objects=[replace(o) for o in self.objects],
            markers=[replace(m) for m in self.markers],
        )

    def find(self, colour: str, shape: str) -> int | None:
        """Index of the object with ``colour`` and ``shape``, or ``None``."""
        for i, obj in enumerate(self.objects):
            if obj.colour == colour and obj.shape == shape:
                return i
        return None


def sample_positions(
    rng: np.random.Generator,
    radii: list[float],
    keepout: Sequence[tuple[float, float, float]] = (),
    margin: float = 0.02,
    tries: int = 200,
) -> list[tuple[float, float]] | None:
    """Centres for discs of ``radii`` inside the table, apart from each other and from ``keepout``.

    ``keepout`` holds ``(x, y, radius)`` discs to avoid. Returns ``None`` when no layout was found
    in ``tries`` attempts per disc.
    """
    placed: list[tuple[float, float, float]] = list(keepout)
    out: list[tuple[float, float]] = []
    for r in radii:
        lo, hi = r + margin, 1.0 - r - margin
        for _ in range(tries):
            x, y = rng.uniform(lo, hi, size=2)
            if all(math.hypot(x - px, y - py) >= r + pr + GAP for px, py, pr in placed):
                break
        else:
            return None
        placed.append((float(x), float(y), r))
        out.append((float(x), float(y)))
    return out


def is_free(scene: Scene, x: float, y: float, radius: float, ignore: tuple[int, ...] = ()) -> bool:
    """Whether a disc of ``radius`` at ``(x, y)`` lies on the table clear of the other objects."""
    if not (radius <= x <= 1 - radius and radius <= y <= 1 - radius):
        return False
    return all(
        obj.distance(x, y) >= obj.radius + radius + 0.01
        for i, obj in enumerate(scene.objects)
        if i not in ignore
    )
