"""The composed VLA model and how it is built from a recipe."""

from vlakit.model.compose import build_codec, build_vla
from vlakit.model.vla import VLA

__all__ = ["VLA", "build_codec", "build_vla"]
