"""A pickle payload for tests that hostile files never run: unpickling it creates a marker file."""

from __future__ import annotations

import os
from pathlib import Path


class ShellPayload:
    """Runs ``touch MARKER`` through ``os.system`` when unpickled (what an attacker would hide)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
