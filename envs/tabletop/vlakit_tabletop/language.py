"""Instruction templates per task family, with held-out phrasings for the ``unseen`` split.

Slots: ``{a}`` the object to move or pick (``"red star"``), ``{b}`` a reference object,
``{place}`` a place phrase (:data:`~vlakit_tabletop.vocab.PLACES`), ``{n}`` a digit,
``{sup}`` ``smallest`` or ``largest``.

Held-out phrasings recombine words of the seen phrasings (a small language model trained from
scratch cannot know a word it never read); no held-out template is a seen template.
"""

from __future__ import annotations

import numpy as np
from vlakit_tabletop.splits import check_split

#: family -> (seen templates, held-out templates)
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "pick": (
        ("pick up the {a}", "grab the {a}", "lift the {a}", "can you pick up the {a}"),
        ("please grab the {a}", "can you lift the {a}"),
    ),
    "place-location": (
        (
            "move the {a} to {place}",
            "put the {a} in {place}",
            "bring the {a} to {place}",
            "please move the {a} to {place}",
        ),
        ("please bring the {a} to {place}", "can you put the {a} in {place}"),
    ),
    "place-next-to": (
        (
            "put the {a} next to the {b}",
            "move the {a} beside the {b}",
            "place the {a} next to the {b}",
            "can you put the {a} beside the {b}",
        ),
        ("please place the {a} beside the {b}", "bring the {a} next to the {b}"),
    ),
    "place-on-number": (
        (
            "put the {a} on the number {n}",
            "place the {a} on the {n}",
            "move the {a} onto the number {n}",
            "please put the {a} on the {n}",
        ),
        ("can you place the {a} on the number {n}", "bring the {a} onto the {n}"),
    ),
    "pick-size": (
        ("pick up the {sup} object", "grab the {sup} object", "lift the {sup} one"),
        ("please lift the {sup} object", "can you grab the {sup} one"),
    ),
    "pick-closest": (
        (
            "pick up the object closest to the {b}",
            "grab the object nearest to the {b}",
            "lift the object closest to the {b}",
        ),
        ("please grab the object closest to the {b}", "can you lift the object nearest to the {b}"),
    ),
}


def templates_for(family: str, split: str) -> tuple[str, ...]:
    """Templates of ``family`` used in ``split`` (held-out ones only in ``unseen``)."""
    seen, held_out = TEMPLATES[family]
    return held_out if check_split(split) == "unseen" else seen


def phrase(rng: np.random.Generator, family: str, split: str, **slots: str) -> str:
    """An instruction for ``family`` in ``split`` with ``slots`` filled, template drawn from ``rng``."""
    options = templates_for(family, split)
    return options[int(rng.integers(len(options)))].format(**slots)


def vocabulary(templates: tuple[str, ...] | list[str]) -> set[str]:
    """The fixed words of ``templates`` (slots removed)."""
    words: set[str] = set()
    for t in templates:
        words.update(w for w in t.split() if not w.startswith("{"))
    return words
