"""Which published distribution provides each first-party component, so that a recipe naming a
component that is not installed says what to install (as pip names a missing package).

This is a hint only: lookups go through the registry, and a third party's components need no
entry here. A test with every first-party plugin installed checks the table against the registry.
"""

from __future__ import annotations

#: distribution name -> {kind: component names it registers}
FIRST_PARTY: dict[str, dict[str, tuple[str, ...]]] = {
    "vlakit-codecs": {"codec": ("equal-mass-bins", "fast", "quantile-bins", "uniform-bins")},
    "vlakit-convnet": {"vision": ("convnet",), "objective": ("keypoint-map", "related-point")},
    "vlakit-hf": {"language": ("hf", "llava")},
    "vlakit-timm": {"vision": ("timm",)},
    "vlakit-lerobot": {"dataset": ("lerobot",)},
    "vlakit-vqa-json": {"dataset": ("vqa-json",)},
    "vlakit-tabletop": {
        "dataset": ("tabletop-demos", "tabletop-vqa"),
        "robot": ("tabletop",),
        "objective": ("aim-point",),
    },
    "vlakit-serial-arm": {"robot": ("serial-arm",), "document": ("serial-arm",)},
}


def providing_distribution(kind: str, name: str) -> str | None:
    """The first-party distribution that registers ``name`` of ``kind``, or ``None``."""
    for dist, kinds in FIRST_PARTY.items():
        if name in kinds.get(kind, ()):
            return dist
    return None


def install_hint(dists: list[str]) -> str:
    """One line saying how to install ``dists`` (published names, or from a clone)."""
    names = " ".join(sorted(set(dists)))
    return (
        f"not installed: {names}; install them with `pip install {names}` "
        "(from a clone of vlakit: pip install -c constraints.txt -r requirements/all.txt)"
    )
