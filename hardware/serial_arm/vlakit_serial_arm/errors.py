"""The plugin's errors; all are :class:`vlakit.RobotError` (a user-facing error, exit status 2)."""

from __future__ import annotations

from pydantic import ValidationError

from vlakit import RobotError


def validation_lines(exc: ValidationError) -> str:
    """A pydantic error as one indented line per problem: ``dotted.path: message``."""
    return "\n".join(f"  {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())


class BusError(RobotError):
    """Motors did not answer (or answered with errors) after every retry.

    ``missing`` maps motor id to what was last heard from it (``"no reply"``, ``"corrupted
    reply"``, the status error in words).
    """

    def __init__(self, message: str, missing: dict[int, str] | None = None) -> None:
        super().__init__(message)
        self.missing = dict(missing or {})


class PortError(RobotError):
    """A serial port that cannot be opened."""


class CalibrationError(RobotError):
    """A calibration file that is missing, unreadable or made for another arm."""


class ProfileError(RobotError):
    """A robot profile that cannot be found, read or validated."""
