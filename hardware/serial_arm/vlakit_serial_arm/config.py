"""The ``serial-arm`` robot block of a recipe (or of ``--robot FILE``)."""

from __future__ import annotations

from pydantic import Field
from vlakit_serial_arm.cameras import CameraSettings

from vlakit import ComponentConfig


class SerialArmConfig(ComponentConfig):
    """``profile``: a packaged profile name (``so101-follower``, ``koch-follower``, ...) or a
    profile file; ``port``: the serial port (``/dev/ttyUSB0``, ``/dev/pts/N`` of an emulator);
    ``emulate``: run on an in-process emulator instead of a port (a dry run, with the
    emulator's nominal calibration); ``calibration``: the calibration file (default: where
    ``vlakit calibrate`` writes it); ``control_hz``: overrides the profile's rate; ``cameras``:
    the cameras to use instead of the profile's, by name (e.g. ``{front: {source: 2}}`` for
    another device, or ``{front: {source: emulated, height: 64, width: 64}}`` on an emulated arm)."""

    profile: str = "so101-follower"
    port: str | None = None
    emulate: bool = False
    calibration: str | None = None
    control_hz: float | None = Field(default=None, gt=0, le=1000)
    cameras: dict[str, CameraSettings] | None = None
