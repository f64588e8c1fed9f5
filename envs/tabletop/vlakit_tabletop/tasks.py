"""Task families: random task instances (scene + instruction + goal) and success from scene state.

Every task picks or moves one *target* object. Pick families succeed while the gripper holds the
target; place families succeed once the target has been released at its goal:

* ``pick``: "pick up the red star" (the target is named).
* ``place-location``: move the target within :data:`PLACE_TOL` of a named place (corner, edge,
  centre).
* ``place-next-to``: release the target beside a named anchor object: centre distance between
  ``max(r_t, r_a)`` and ``r_t + r_a +`` :data:`NEXT_TO_SLACK`.
* ``place-on-number``: release the target within :data:`NUMBER_TOL` of a digit pad.
* ``pick-size``: pick up the unique smallest / largest object (not named).
* ``pick-closest``: pick up the object closest to a named anchor (by a clear margin).

The *key* object is the one whose name carries the split's concept: held-out colour x shape in
``unseen``, the VQA-only colour in ``vqa-only`` (see :mod:`vlakit_tabletop.splits`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from vlakit_tabletop.language import phrase
from vlakit_tabletop.scene import MARKER_RADIUS, Marker, Scene, SceneObject, sample_positions
from vlakit_tabletop.splits import (
    VQA_ONLY_COLOURS,
    check_split,
    key_combos_for,
    other_combos_for,
    tables_for,
)
from vlakit_tabletop.vocab import DIGITS, FAMILIES, PLACES, SIZES, SPLITS

#: place-location: the target's centre must end within this distance of the place (table units).
PLACE_TOL = 0.12
#: place-on-number: the target's centre must end within this distance of the pad's centre.
NUMBER_TOL = 0.11
#: place-next-to: allowed free space between the target and the anchor (table units).
NEXT_TO_SLACK = 0.12
#: place-next-to: the expert drops the target this far apart from the anchor (edge to edge).
NEXT_TO_GAP = 0.02
#: pick-closest: the closest object is nearer to the anchor than the second by at least this.
CLOSEST_MARGIN = 0.1

MIN_OBJECTS = 3
MAX_OBJECTS = 5
N_MARKERS = 3

PICK_FAMILIES = frozenset({"pick", "pick-size", "pick-closest"})
#: Families whose instruction names the key object (all but pick-size), usable in ``vqa-only``.
NAMED_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f != "pick-size")


@dataclass
class TaskSpec:
    """A task instance: which object to act on, where it should go, how it was phrased.

    ``target`` is the object to pick or move; ``anchor`` the reference object (next-to, closest);
    ``marker`` the digit pad (on-number); ``goal`` the place point ``(x, y)`` (place-location,
    on-number); ``key`` the object whose name carries the split's concept.
    """

    family: str
    split: str
    seed: int
    instruction: str
    target: int
    key: int
    goal: tuple[float, float] | None = None
    anchor: int | None = None
    marker: int | None = None

    def info(self, scene: Scene) -> dict[str, Any]:
        """JSON-compatible description, for :attr:`vlakit.Task.info` and episode metadata."""
        key = scene.objects[self.key]
        return {
            "target": scene.objects[self.target].name,
            "key_object": key.name,
            "anchor": scene.objects[self.anchor].name if self.anchor is not None else None,
            "digit": scene.markers[self.marker].digit if self.marker is not None else None,
            "goal": list(self.goal) if self.goal is not None else None,
            "table": scene.table,
            "vqa_only": key.colour in VQA_ONLY_COLOURS,
            "concepts": [key.colour, key.shape],
        }


def is_success(scene: Scene, spec: TaskSpec) -> bool:
    """Whether ``spec`` is accomplished in ``scene`` (judged from state alone)."""
    if spec.family in PICK_FAMILIES:
        return scene.held == spec.target
    if scene.held == spec.target:
        return False
    obj = scene.objects[spec.target]
    if spec.family == "place-location":
        assert spec.goal is not None
        return obj.distance(*spec.goal) <= PLACE_TOL
    if spec.family == "place-on-number":
        assert spec.marker is not None
        pad = scene.markers[spec.marker]
        return obj.distance(pad.x, pad.y) <= NUMBER_TOL
    if spec.family == "place-next-to":
        assert spec.anchor is not None
        if scene.held == spec.anchor:
            return False
        anchor = scene.objects[spec.anchor]
        d = obj.distance(anchor.x, anchor.y)
        return max(obj.radius, anchor.radius) <= d <= obj.radius + anchor.radius + NEXT_TO_SLACK
    raise ValueError(f"unknown family {spec.family!r}")


def next_to_point(scene: Scene, spec: TaskSpec) -> tuple[float, float]:
    """Where the expert drops a next-to target: beside the anchor, on the side facing the target."""
    assert spec.anchor is not None
    obj, anchor = scene.objects[spec.target], scene.objects[spec.anchor]
    dx, dy = obj.x - anchor.x, obj.y - anchor.y
    norm = math.hypot(dx, dy) or 1.0
    d = obj.radius + anchor.radius + NEXT_TO_GAP
    return anchor.x + d * dx / norm, anchor.y + d * dy / norm


def drop_point(scene: Scene, spec: TaskSpec) -> tuple[float, float] | None:
    """The point the expert carries the target to, or ``None`` for pick families."""
    if spec.family in PICK_FAMILIES:
        return None
    if spec.family == "place-next-to":
        return next_to_point(scene, spec)
    if spec.family == "place-on-number":
        assert spec.marker is not None
        pad = scene.markers[spec.marker]
        return pad.x, pad.y
    return spec.goal


# ----------------------------------------------------------------------------------- sampling


def _choice(rng: np.random.Generator, options: tuple[Any, ...] | list[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _combos(rng: np.random.Generator, split: str, n_other: int) -> list[tuple[str, str]]:
    """``1 + n_other`` distinct colour x shape pairs; the first is the key object's."""
    key = _choice(rng, key_combos_for(split))
    pool = [c for c in other_combos_for(split) if c != key]
    picks = rng.choice(len(pool), size=n_other, replace=False)
    return [key] + [pool[int(i)] for i in picks]


def _sizes(rng: np.random.Generator, n: int) -> list[str]:
    names = list(SIZES)
    return [names[int(i)] for i in rng.integers(len(names), size=n)]


def _build(
    rng: np.random.Generator,
    split: str,
    combos: list[tuple[str, str]],
    sizes: list[str],
    keepout: Sequence[tuple[float, float, float]] = (),
) -> Scene | None:
    radii = [SIZES[s] for s in sizes]
    positions = sample_positions(rng, radii, keepout=keepout)
    if positions is None:
        return None
    objects = [
        SceneObject(colour=c, shape=s, size=z, x=x, y=y)
        for (c, s), z, (x, y) in zip(combos, sizes, positions)
    ]
    gx, gy = rng.uniform(0.1, 0.9, size=2)
    return Scene(
        table=_choice(rng, tables_for(split)), objects=objects, gripper_x=float(gx), gripper_y=float(gy)
    )


#: ``(rng, split, objects, seed) -> (scene, spec)``, or ``None`` when the draw did not lay out.
Sampler = Callable[[np.random.Generator, str, int, int], "tuple[Scene, TaskSpec] | None"]


def _pick(
    rng: np.random.Generator, split: str, n: int, seed: int
) -> tuple[Scene, TaskSpec] | None:
    scene = _build(rng, split, _combos(rng, split, n - 1), _sizes(rng, n))
    if scene is None:
        return None
    text = phrase(rng, "pick", split, a=scene.objects[0].name)
    return scene, TaskSpec("pick", split, seed, text, target=0, key=0)


def _place_location(
    rng: np.random.Generator, split: str, n: int, seed: int
) -> tuple[Scene, TaskSpec] | None:
    place = _choice(rng, list(PLACES))
    gx, gy = PLACES[place]
    scene = _build(
        rng, split, _combos(rng, split, n - 1), _sizes(rng, n), keepout=[(gx, gy, 0.14)]
    )
    if scene is None:
        return None
    text = phrase(rng, "place-location", split, a=scene.objects[0].name, place=place)
    return scene, TaskSpec("place-location", split, seed, text, target=0, key=0, goal=(gx, gy))


def _place_next_to(
    rng: np.random.Generator, split: str, n: int, seed: int
) -> tuple[Scene, TaskSpec] | None:
    scene = _build(rng, split, _combos(rng, split, n - 1), _sizes(rng, n))
    if scene is None:
        return None
    spec = TaskSpec("place-next-to", split, seed, "", target=0, key=0, anchor=1)
    target, anchor = scene.objects[0], scene.objects[1]
    if target.distance(anchor.x, anchor.y) < target.radius + anchor.radius + NEXT_TO_SLACK + 0.12:
        return None
    x, y = next_to_point(scene, spec)
    r = target.radius
    if not (r <= x <= 1 - r and r <= y <= 1 - r):
        return None
    if any(o.distance(x, y) < o.radius + r + 0.01 for o in scene.objects[2:]):
        return None
    spec.instruction = phrase(rng, "place-next-to", split, a=target.name, b=anchor.name)
    return scene, spec


def _place_on_number(
    rng: np.random.Generator, split: str, n: int, seed: int
) -> tuple[Scene, TaskSpec] | None:
    pads = sample_positions(rng, [MARKER_RADIUS] * N_MARKERS, margin=0.0)
    if pads is None:
        return None
    digits = rng.choice(len(DIGITS), size=N_MARKERS, replace=False)
    markers = [Marker(DIGITS[int(d)], x, y) for d, (x, y) in zip(digits, pads)]
    keepout = [(m.x, m.y, MARKER_RADIUS) for m in markers]
    scene = _build(rng, split, _combos(rng, split, n - 1), _sizes(rng, n), keepout=keepout)
    if scene is None:
        return None
    scene.markers = markers
    k = int(rng.integers(N_MARKERS))
    text = phrase(rng, "place-on-number", split, a=scene.objects[0].name, n=markers[k].digit)
    goal = (markers[k].x, markers[k].y)
    return scene, TaskSpec("place-on-number", split, seed, text, target=0, key=0, goal=goal, marker=k)


def _pick_size(
    rng: np.random.Generator, split: str, n: int, seed: int
) -> tuple[Scene, TaskSpec] | None:
    sup = _choice(rng, ("smallest", "largest"))
    odd, rest = ("small", "large") if sup == "smallest" else ("large", "small")
    scene = _build(rng, split, _combos(rng, split, n - 1), [odd] + [rest] * (n - 1))
    if scene is None:
        return None
    text = phrase(rng, "pick-size", split, sup=sup)
    return scene, TaskSpec("pick-size", split, seed, text, target=0, key=0)


def _pick_closest(
    rng: np.random.Generator, split: str, n: int, seed: int
) -> tuple[Scene, TaskSpec] | None:
    # object 0 is the named anchor (the key), object 1 the closest one (the target)
    scene = _build(rng, split, _combos(rng, split, n - 1), _sizes(rng, n))
    if scene is None:
        return None
    anchor = scene.objects[0]
    dists = sorted((o.distance(anchor.x, anchor.y), i) for i, o in enumerate(scene.objects) if i)
    if dists[1][0] - dists[0][0] < CLOSEST_MARGIN:
        return None
    target = dists[0][1]
    text = phrase(rng, "pick-closest", split, b=anchor.name)
    return scene, TaskSpec("pick-closest", split, seed, text, target=target, key=0, anchor=0)


SAMPLERS: dict[str, Sampler] = {
    "pick": _pick,
    "place-location": _place_location,
    "place-next-to": _place_next_to,
    "place-on-number": _place_on_number,
    "pick-size": _pick_size,
    "pick-closest": _pick_closest,
}


def families_for(split: str, families: tuple[str, ...] | list[str] = FAMILIES) -> tuple[str, ...]:
    """The families of ``families`` usable in ``split`` (``vqa-only`` needs a named key object)."""
    check_split(split)
    for f in families:
        if f not in SAMPLERS:
            raise ValueError(f"unknown tabletop task family {f!r}; families are {', '.join(FAMILIES)}")
    usable = tuple(f for f in families if split != "vqa-only" or f in NAMED_FAMILIES)
    if not usable:
        raise ValueError(
            f"none of the families {list(families)} can be used in split {split!r} "
            f"(it needs one of {', '.join(NAMED_FAMILIES)})"
        )
    return usable


#: Fewest objects each family needs (pick-closest: the anchor and two candidates).
FAMILY_MIN_OBJECTS: dict[str, int] = {"place-next-to": 2, "pick-size": 2, "pick-closest": 3}


def make_task(
    seed: int,
    split: str,
    families: tuple[str, ...] | list[str] = FAMILIES,
    family: str | None = None,
    objects: tuple[int, int] = (MIN_OBJECTS, MAX_OBJECTS),
) -> tuple[Scene, TaskSpec]:
    """The task for ``seed`` in ``split``: deterministic in ``(seed, split, families, objects)``.

    The family is drawn from ``families`` unless ``family`` is given; the number of objects
    uniformly from ``objects = (least, most)`` (raised to what the family needs).
    """
    usable = families_for(split, families if family is None else (family,))
    least, most = objects
    if not 1 <= least <= most <= MAX_OBJECTS:
        raise ValueError(f"objects must satisfy 1 <= least <= most <= {MAX_OBJECTS}, got {objects}")
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFFFFFFFFFF, SPLITS.index(split), 0x7AB1E])
    chosen = family or _choice(rng, usable)
    for _ in range(1000):
        n = max(int(rng.integers(least, most + 1)), FAMILY_MIN_OBJECTS.get(chosen, 1))
        made = SAMPLERS[chosen](rng, split, n, int(seed))
        if made is not None:
            return made
    raise RuntimeError(f"could not lay out a {chosen!r} task for seed {seed}")  # pragma: no cover
