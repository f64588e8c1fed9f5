"""The ``tabletop-vqa`` dataset: questions with one- or two-word answers about rendered scenes.

Scenes use seen tables and seen colour x shape pairs plus the VQA-only colour (``cyan``), which
appears in no demonstration: co-training on these questions is what lets a policy follow
instructions naming it (split ``vqa-only``). Held-out pairs and tables never appear here.

Sample ``i`` is generated on demand from ``(seed, i)``: deterministic, nothing to cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np
from vlakit_tabletop.config import TabletopVQAConfig
from vlakit_tabletop.render import Renderer
from vlakit_tabletop.scene import MARKER_RADIUS, Marker, Scene, SceneObject, sample_positions
from vlakit_tabletop.splits import SEEN_TABLES, VQA_COMBOS
from vlakit_tabletop.targets import CAMERA, TARGETS
from vlakit_tabletop.vocab import COLOURS, DIGITS, NUMBER_WORDS, SIZES

from vlakit import Dataset, Sample, TargetSpec


class QA(NamedTuple):
    """A question and its answer; ``about`` is where the one thing the question is about lies,
    ``(x, y)`` in table units (= fractions of the image), or ``None`` when it asks about several
    things or none. A sample passes it on as its ``aim``; ``anchor`` (same units) is the reference
    object a relational question names ("closest to the X": the X), passed on as its ``anchor``."""

    question: str
    answer: str
    about: tuple[float, float] | None = None
    anchor: tuple[float, float] | None = None

REGIONS = (
    ("top left", "top", "top right"),
    ("left", "centre", "right"),
    ("bottom left", "bottom", "bottom right"),
)


def region(x: float, y: float) -> str | None:
    """The 3x3 region name of ``(x, y)``, or ``None`` within 0.03 of a region border."""
    for v in (x, y):
        if min(abs(v - 1 / 3), abs(v - 2 / 3)) < 0.03:
            return None
    return REGIONS[min(int(y * 3), 2)][min(int(x * 3), 2)]


def vqa_scene(rng: np.random.Generator) -> Scene:
    """A random scene for questions: 3-5 objects, digit pads 30% of the time, any gripper state
    (carrying 30%, hovering over an object 20%, elsewhere 50%)."""
    while True:
        markers: list[Marker] = []
        if rng.random() < 0.3:
            pads = sample_positions(rng, [MARKER_RADIUS] * 3, margin=0.0)
            if pads is None:
                continue
            digits = rng.choice(len(DIGITS), size=3, replace=False)
            markers = [Marker(DIGITS[int(d)], x, y) for d, (x, y) in zip(digits, pads)]
        n = int(rng.integers(3, 6))
        picks = rng.choice(len(VQA_COMBOS), size=n, replace=False)
        sizes = [list(SIZES)[int(i)] for i in rng.integers(len(SIZES), size=n)]
        keepout = [(m.x, m.y, MARKER_RADIUS) for m in markers]
        positions = sample_positions(rng, [SIZES[s] for s in sizes], keepout=keepout)
        if positions is not None:
            break
    objects = [
        SceneObject(colour=VQA_COMBOS[int(k)][0], shape=VQA_COMBOS[int(k)][1], size=s, x=x, y=y)
        for k, s, (x, y) in zip(picks, sizes, positions)
    ]
    table = SEEN_TABLES[int(rng.integers(len(SEEN_TABLES)))]
    scene = Scene(table=table, objects=objects, markers=markers)
    u = rng.random()
    if u < 0.3:  # carrying an object
        held = int(rng.integers(n))
        scene.held, scene.closed = held, True
        scene.gripper_x, scene.gripper_y = objects[held].x, objects[held].y
    elif u < 0.5:  # hovering over an object, open or closed on nothing
        o = objects[int(rng.integers(n))]
        scene.gripper_x, scene.gripper_y = (
            float(np.clip(v, 0, 1)) for v in o.position + rng.uniform(-0.04, 0.04, 2)
        )
        scene.closed = u < 0.35
    else:
        scene.gripper_x, scene.gripper_y = (float(v) for v in rng.uniform(0.05, 0.95, size=2))
        scene.closed = u < 0.55
    return scene


def _pick(rng: np.random.Generator, items: list | tuple) -> Any:
    return items[int(rng.integers(len(items)))]


def q_colour(rng: np.random.Generator, s: Scene) -> QA | None:
    shapes = [o.shape for o in s.objects]
    unique = [o for o in s.objects if shapes.count(o.shape) == 1]
    if not unique:
        return None
    o = _pick(rng, unique)
    q = _pick(rng, ("what colour is the {}?", "what is the colour of the {}?")).format(o.shape)
    return QA(q, o.colour, o.position)


def q_shape(rng: np.random.Generator, s: Scene) -> QA | None:
    colours = [o.colour for o in s.objects]
    unique = [o for o in s.objects if colours.count(o.colour) == 1]
    if not unique:
        return None
    o = _pick(rng, unique)
    q = _pick(rng, ("what shape is the {} object?", "which shape is {}?")).format(o.colour)
    return QA(q, o.shape, o.position)


def q_count(rng: np.random.Generator, s: Scene) -> QA | None:
    if rng.random() < 0.4:
        return QA("how many objects are on the table?", NUMBER_WORDS[len(s.objects)])
    colour = _pick(rng, list(COLOURS))
    n = sum(o.colour == colour for o in s.objects)
    return QA(f"how many {colour} objects are there?", NUMBER_WORDS[n])


def q_exists(rng: np.random.Generator, s: Scene) -> QA | None:
    if rng.random() < 0.5:
        o = _pick(rng, s.objects)
        return QA(f"is there a {o.name}?", "yes", o.position)
    colour, shape = _pick(rng, VQA_COMBOS)
    found = s.find(colour, shape)
    if found is None:
        return QA(f"is there a {colour} {shape}?", "no")
    o = s.objects[found]
    return QA(f"is there a {colour} {shape}?", "yes", o.position)


def q_relation(rng: np.random.Generator, s: Scene) -> QA | None:
    i, j = (int(k) for k in rng.choice(len(s.objects), size=2, replace=False))
    a, b = s.objects[i], s.objects[j]
    if rng.random() < 0.5:
        if abs(a.x - b.x) < 0.05:
            return None
        return QA(f"is the {a.name} left of the {b.name}?", "yes" if a.x < b.x else "no")
    if abs(a.y - b.y) < 0.05:
        return None
    return QA(f"is the {a.name} above the {b.name}?", "yes" if a.y < b.y else "no")


def q_extreme(rng: np.random.Generator, s: Scene) -> QA | None:
    side = _pick(rng, ("left", "right", "top", "bottom"))
    key = {
        "left": lambda o: o.x,
        "right": lambda o: -o.x,
        "top": lambda o: o.y,
        "bottom": lambda o: -o.y,
    }[side]
    ranked = sorted(s.objects, key=key)
    if key(ranked[1]) - key(ranked[0]) < 0.05:
        return None
    q = (
        f"which object is furthest to the {side}?"
        if side in ("left", "right")
        else f"which object is at the {side}?"
    )
    return QA(q, ranked[0].name, ranked[0].position)


def q_size(rng: np.random.Generator, s: Scene) -> QA | None:
    if rng.random() < 0.5:
        o = _pick(rng, s.objects)
        return QA(f"is the {o.name} large or small?", o.size, o.position)
    for sup, size in (("smallest", "small"), ("largest", "large")):
        odd = [o for o in s.objects if o.size == size]
        if len(odd) == 1:
            return QA(f"which object is the {sup}?", odd[0].name, odd[0].position)
    return None


def q_closest(rng: np.random.Generator, s: Scene) -> QA | None:
    a = _pick(rng, s.objects)
    ranked = sorted((o.distance(a.x, a.y), o.name, o.position) for o in s.objects if o is not a)
    if ranked[1][0] - ranked[0][0] < 0.08:
        return None
    _, name, position = ranked[0]
    return QA(f"which object is closest to the {a.name}?", name, position, anchor=a.position)


def q_where(rng: np.random.Generator, s: Scene) -> QA | None:
    o = _pick(rng, s.objects)
    where = region(o.x, o.y)
    if where is None:
        return None
    return QA(_pick(rng, ("where is the {}?", "in which part of the table is the {}?")).format(o.name), where, o.position)


#: ``locate`` answers on a LOCATE_GRID x LOCATE_GRID grid of the table: "column row", each 0-7.
LOCATE_GRID = 8


def q_locate(rng: np.random.Generator, s: Scene) -> QA | None:
    """The grid cell of a named object, as two words: ``"column row"`` (``"3 5"``); none within
    0.01 of a cell border."""
    o = _pick(rng, s.objects)
    cells = []
    for v in o.position:
        scaled = v * LOCATE_GRID
        if abs(scaled - round(scaled)) * (1 / LOCATE_GRID) < 0.01 and 0 < round(scaled) < LOCATE_GRID:
            return None
        cells.append(str(min(int(scaled), LOCATE_GRID - 1)))
    q = _pick(rng, ("where exactly is the {}?", "in which cell is the {}?")).format(o.name)
    return QA(q, " ".join(cells), o.position)


def q_gripper(rng: np.random.Generator, s: Scene) -> QA | None:
    if rng.random() < 0.5:
        return QA("is the gripper open?", "no" if s.closed else "yes")
    if s.held is None:
        return QA("what is the gripper holding?", "nothing")
    o = s.objects[s.held]
    return QA("what is the gripper holding?", o.name, o.position)


def q_from_gripper(rng: np.random.Generator, s: Scene) -> QA | None:
    """Direction from the gripper to an object, in the expert's dead zone (``here`` when within it)."""
    o = _pick(rng, [o for i, o in enumerate(s.objects) if i != s.held])
    dx, dy = o.x - s.gripper_x, o.y - s.gripper_y
    tol = 0.05
    if min(abs(abs(dx) - tol), abs(abs(dy) - tol)) < 0.01:
        return None  # too close to the dead zone's edge to answer
    vertical = "up" if dy < -tol else "down" if dy > tol else ""
    horizontal = "left" if dx < -tol else "right" if dx > tol else ""
    answer = f"{vertical} {horizontal}".strip() or "here"
    q = _pick(rng, ("which way is the {} from the gripper?", "where should the gripper go to reach the {}?"))
    return QA(q.format(o.name), answer, o.position)


def q_number(rng: np.random.Generator, s: Scene) -> QA | None:
    if not s.markers:
        return None
    if rng.random() < 0.5:
        m = _pick(rng, s.markers)
        where = region(m.x, m.y)
        return QA(f"where is the number {m.digit}?", where, m.position) if where else None
    o = _pick(rng, s.objects)
    ranked = sorted((math.hypot(m.x - o.x, m.y - o.y), m.digit, m.position) for m in s.markers)
    if ranked[1][0] - ranked[0][0] < 0.08:
        return None
    _, digit, position = ranked[0]
    return QA(f"which number is closest to the {o.name}?", digit, position)


#: Question generators, each ``(rng, scene) -> QA`` or ``None`` when not applicable.
QUESTIONS: dict[str, Callable[[np.random.Generator, Scene], QA | None]] = {
    "colour": q_colour,
    "shape": q_shape,
    "count": q_count,
    "exists": q_exists,
    "relation": q_relation,
    "extreme": q_extreme,
    "size": q_size,
    "closest": q_closest,
    "where": q_where,
    "gripper": q_gripper,
    "from-gripper": q_from_gripper,
    "number": q_number,
    "locate": q_locate,
}


def make_qa(seed: int, index: int, kinds: list[str] | None = None) -> tuple[Scene, str, QA]:
    """Scene, question kind and :class:`QA` of sample ``index`` of a dataset with ``seed``,
    drawing from question ``kinds`` (default: all of :data:`QUESTIONS`)."""
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, int(index), 0x5A9])
    kinds = list(kinds or QUESTIONS)
    unknown = [k for k in kinds if k not in QUESTIONS]
    if unknown:
        raise ValueError(f"unknown tabletop-vqa question kinds {unknown}; kinds are {', '.join(QUESTIONS)}")
    while True:
        scene = vqa_scene(rng)
        for _ in range(8):
            kind = _pick(rng, kinds)
            qa = QUESTIONS[kind](rng, scene)
            if qa is not None:
                return scene, kind, qa


class TabletopVQA(Dataset):
    """Question-answer pairs about tabletop scenes, for co-training (no actions)."""

    def __init__(self, config: TabletopVQAConfig | None = None) -> None:
        self.config = config or TabletopVQAConfig()
        self.renderer = Renderer(self.config.image_size)

    def __len__(self) -> int:
        return self.config.samples

    @property
    def targets(self) -> dict[str, TargetSpec]:
        return TARGETS

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"tabletop-vqa index {index} out of range for {n} samples")
        scene, _, qa = make_qa(self.config.seed, int(index) % n, self.config.questions)
        points = {"aim": qa.about, "anchor": qa.anchor}
        targets = {name: np.asarray(p, dtype=np.float32) for name, p in points.items() if p is not None}
        image = self.renderer.render(scene)
        return Sample(images={CAMERA: image}, text=qa.question, answer=qa.answer, targets=targets)

    def texts(self) -> Iterator[str]:
        """Every question and answer, without rendering the scenes."""
        for index in range(len(self)):
            _, _, qa = make_qa(self.config.seed, index, self.config.questions)
            yield qa.question
            yield qa.answer
