"""The simulator's vocabulary: colours, shapes, sizes, table colours, markers, places, families.

Pure data, no numpy. Table coordinates: ``x`` to the right and ``y`` downwards (as in the image),
both in ``[0, 1]``; ``(0, 0)`` is the top-left corner of the table.
"""

from __future__ import annotations

#: Object colours, name -> RGB. Saturated, and far from every table colour.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 35, 35),
    "green": (30, 190, 50),
    "blue": (40, 80, 245),
    "yellow": (250, 230, 30),
    "purple": (160, 50, 215),
    "orange": (255, 140, 0),
    "cyan": (30, 235, 235),
}

#: Object shapes (each a sprite mask, see :mod:`vlakit_tabletop.sprites`).
SHAPES: tuple[str, ...] = ("square", "circle", "triangle", "star", "cross", "diamond")

#: Object sizes, name -> radius in table units (64 px image: small ~5.4 px, large ~8.3 px).
SIZES: dict[str, float] = {"small": 0.085, "large": 0.13}

#: Table (background) colours, name -> RGB. Muted, so objects stand out.
TABLES: dict[str, tuple[int, int, int]] = {
    "grey": (120, 120, 120),
    "wood": (140, 105, 75),
    "slate": (65, 75, 95),
    "olive": (100, 105, 60),
    "plum": (105, 70, 90),
}

#: Digits drawn on marker pads (family ``place-on-number``).
DIGITS: tuple[str, ...] = ("1", "2", "3", "4", "5")

#: Named places on the table (family ``place-location``), phrase -> goal point (x, y).
PLACES: dict[str, tuple[float, float]] = {
    "the top left corner": (0.15, 0.15),
    "the top right corner": (0.85, 0.15),
    "the bottom left corner": (0.15, 0.85),
    "the bottom right corner": (0.85, 0.85),
    "the top edge": (0.5, 0.13),
    "the bottom edge": (0.5, 0.87),
    "the left edge": (0.13, 0.5),
    "the right edge": (0.87, 0.5),
    "the centre": (0.5, 0.5),
}

#: Task families, roughly from easiest to hardest.
FAMILIES: tuple[str, ...] = (
    "pick",
    "place-location",
    "place-next-to",
    "place-on-number",
    "pick-size",
    "pick-closest",
)

#: Task splits: training distribution, held-out generalization, VQA-only concept transfer.
SPLITS: tuple[str, ...] = ("seen", "unseen", "vqa-only")

#: Number words used in VQA answers.
NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six")
