"""Cameras of an arm, through OpenCV (the optional extra ``vlakit-serial-arm[cameras]``).

A camera is read by its own thread, so a control tick never waits for the sensor: it takes
the newest frame, converted to RGB and resized to the profile's ``[height, width]``. A source is
a device index (``0``), a device path (``/dev/video2``), or a video file or stream URL (a file
is replayed in a loop at ``fps``, which makes a camera testable without hardware), or
``emulated``: no camera at all, but a drawing of the arm's joint positions
(:mod:`vlakit_serial_arm.emulator.camera`), for dry runs on an emulated arm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vlakit import RobotError

#: the ``source`` of an emulated camera (a drawing of the joint state, no device)
EMULATED = "emulated"


class CameraSettings(BaseModel):
    """``source``: device index, device path, video file or URL, or ``emulated`` (a drawing of
    the arm's joint positions, for an emulated arm); ``height``/``width``: size of
    the images in observations (pixels); ``fps``: requested frame rate."""

    model_config = ConfigDict(extra="forbid")

    source: int | str
    height: int = Field(default=480, gt=0, le=4096)
    width: int = Field(default=640, gt=0, le=4096)
    fps: float = Field(default=30.0, gt=0, le=240)


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise RobotError(
            "this arm's profile names cameras, which need OpenCV: pip install 'vlakit-serial-arm[cameras]'"
        ) from None
    return cv2


class OpenCVCamera:
    """One camera; :meth:`read` returns the newest ``uint8`` ``[height, width, 3]`` RGB frame."""

    def __init__(self, name: str, settings: CameraSettings) -> None:
        self.name = name
        self.settings = settings
        self._frame: np.ndarray | None = None
        self._error = ""
        self._new = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._capture: Any = None

    def open(self, timeout: float = 5.0) -> None:
        """Open the source and wait for the first frame."""
        cv2 = _cv2()
        s = self.settings
        self._capture = cv2.VideoCapture(s.source)
        if not self._capture.isOpened():
            self._capture.release()
            raise RobotError(f"camera {self.name!r}: cannot open source {s.source!r}")
        self._is_file = isinstance(s.source, str) and Path(s.source).is_file()
        if not self._is_file:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, s.width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, s.height)
            self._capture.set(cv2.CAP_PROP_FPS, s.fps)
        self._stop.clear()
        self._thread = threading.Thread(target=self._grab, name=f"camera-{self.name}", daemon=True)
        self._thread.start()
        self.read(timeout)

    def _grab(self) -> None:
        cv2 = _cv2()
        period = 1.0 / self.settings.fps
        while not self._stop.is_set():
            ok, bgr = self._capture.read()
            if not ok and self._is_file:
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)  # replay the file
                ok, bgr = self._capture.read()
            if not ok:
                self._error = f"camera {self.name!r}: source {self.settings.source!r} stopped delivering frames"
                with self._new:
                    self._new.notify_all()
                return
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if rgb.shape[:2] != (self.settings.height, self.settings.width):
                rgb = cv2.resize(rgb, (self.settings.width, self.settings.height), interpolation=cv2.INTER_AREA)
            with self._new:
                self._frame = np.ascontiguousarray(rgb, dtype=np.uint8)
                self._new.notify_all()
            if self._is_file:
                time.sleep(period)

    def read(self, timeout: float = 1.0) -> np.ndarray:
        """The newest frame (a copy); raises :class:`RobotError` when none came within ``timeout``."""
        with self._new:
            if self._frame is None and not self._error:
                self._new.wait(timeout)
            if self._frame is None or self._error:
                raise RobotError(self._error or f"camera {self.name!r}: no frame within {timeout:g} s")
            return self._frame.copy()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._capture is not None:
            self._capture.release()
            self._capture = None


class Camera(Protocol):
    """What the driver needs of a camera."""

    name: str

    def open(self, timeout: float = 5.0) -> None: ...

    def read(self, timeout: float = 1.0) -> np.ndarray: ...

    def close(self) -> None: ...


def make_camera(
    name: str, settings: CameraSettings, units: tuple[str, ...], state: Callable[[], np.ndarray | None]
) -> Camera:
    """The camera ``name`` of ``settings``: an OpenCV capture, or (``source: emulated``) a
    drawing of ``state()``, the joint positions ``[M]`` in ``units`` read this tick."""
    if settings.source == EMULATED:
        from vlakit_serial_arm.emulator.camera import JointStateCamera

        return JointStateCamera(name, settings.height, settings.width, units, state)
    return OpenCVCamera(name, settings)
