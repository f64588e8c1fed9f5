"""Errors of the LeRobot plugin."""

from __future__ import annotations

from vlakit import VlakitError


class LeRobotFormatError(VlakitError):
    """A directory that is not a readable LeRobot dataset, or one that does not match the recipe."""
