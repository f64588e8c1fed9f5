"""What each split may contain: held-out colour x shape pairs, table colours, the VQA-only concept.

* ``seen`` (demonstrations, training): only :data:`SEEN_COMBOS`, only :data:`SEEN_TABLES`, only
  seen phrasings, and never the VQA-only colour.
* ``unseen`` (generalization): the object the instruction is about is a :data:`HELD_OUT_COMBOS`
  pair, the table is one of :data:`UNSEEN_TABLES`, the phrasing is a held-out template.
* ``vqa-only`` (concept transfer, RT-2 style): the object the instruction names has the colour in
  :data:`VQA_ONLY_COLOURS`, which appears in the VQA data but in no demonstration; everything else
  (tables, other objects, phrasings) is as in ``seen``.
"""

from __future__ import annotations

from vlakit_tabletop.vocab import COLOURS, SHAPES, SPLITS, TABLES

#: Colours that appear only in the VQA data, never in a demonstration (the RT-2 transfer probe).
VQA_ONLY_COLOURS: tuple[str, ...] = ("cyan",)

#: Concepts (words) the robot data never contains; eval reports success on tasks naming them.
VQA_ONLY_CONCEPTS: tuple[str, ...] = VQA_ONLY_COLOURS

#: Colours of demonstration objects.
ROBOT_COLOURS: tuple[str, ...] = tuple(c for c in COLOURS if c not in VQA_ONLY_COLOURS)

#: One held-out shape per robot colour (a bijection, so every colour and every shape is still
#: seen in other pairs): red star, green cross, blue diamond, yellow square, purple circle,
#: orange triangle.
HELD_OUT_COMBOS: frozenset[tuple[str, str]] = frozenset(
    (colour, SHAPES[(i + 3) % len(SHAPES)]) for i, colour in enumerate(ROBOT_COLOURS)
)

#: Colour x shape pairs allowed anywhere in seen scenes.
SEEN_COMBOS: tuple[tuple[str, str], ...] = tuple(
    (c, s) for c in ROBOT_COLOURS for s in SHAPES if (c, s) not in HELD_OUT_COMBOS
)

#: Pairs with the VQA-only colour.
VQA_ONLY_COMBOS: tuple[tuple[str, str], ...] = tuple((c, s) for c in VQA_ONLY_COLOURS for s in SHAPES)

SEEN_TABLES: tuple[str, ...] = ("grey", "wood", "slate")
UNSEEN_TABLES: tuple[str, ...] = tuple(t for t in TABLES if t not in SEEN_TABLES)


def check_split(split: str) -> str:
    """Return ``split`` or raise ``ValueError`` naming the valid splits."""
    if split not in SPLITS:
        raise ValueError(f"unknown tabletop split {split!r}; splits are {', '.join(SPLITS)}")
    return split


def tables_for(split: str) -> tuple[str, ...]:
    """Table colours a scene of ``split`` may have."""
    return UNSEEN_TABLES if check_split(split) == "unseen" else SEEN_TABLES


def key_combos_for(split: str) -> tuple[tuple[str, str], ...]:
    """Colour x shape pairs for the object an instruction is about in ``split``."""
    check_split(split)
    if split == "unseen":
        return tuple(sorted(HELD_OUT_COMBOS))
    if split == "vqa-only":
        return VQA_ONLY_COMBOS
    return SEEN_COMBOS


def other_combos_for(split: str) -> tuple[tuple[str, str], ...]:
    """Colour x shape pairs for the other objects of a scene in ``split``.

    Unseen scenes may hold any robot-colour pair; seen and vqa-only scenes only seen pairs.
    """
    if check_split(split) == "unseen":
        return tuple((c, s) for c in ROBOT_COLOURS for s in SHAPES)
    return SEEN_COMBOS


#: Colour x shape pairs of VQA scenes: seen pairs plus the VQA-only colour (never held-out pairs).
VQA_COMBOS: tuple[tuple[str, str], ...] = SEEN_COMBOS + VQA_ONLY_COMBOS
