"""An emulated camera: a drawing of the arm's joint positions, for dry runs with no camera.

EMULATION, not a picture of anything real: the image is a stick figure computed from the joint
positions the driver read from the bus that tick, so a vision backbone has something that
changes with the arm to look at. Each ``deg`` motor turns the chain by its angle (links of equal
length from the bottom centre, one colour per link); each ``percent`` motor (a gripper) draws two
jaws at the tip, opened by its value. A profile or robot block names it as a camera whose
``source`` is ``emulated``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: link colours (RGB), cycled
COLOURS = np.array(
    [[230, 60, 60], [60, 170, 60], [60, 90, 230], [230, 180, 40], [170, 60, 200], [40, 190, 200]], dtype=np.uint8
)
BACKGROUND = (24, 24, 24)


def draw_joint_state(state: np.ndarray, units: tuple[str, ...], height: int, width: int) -> np.ndarray:
    """``uint8`` ``[height, width, 3]`` stick figure of ``state`` ``[M]`` (degrees / percent)."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    angles = [float(v) for v, u in zip(state, units) if u == "deg"]
    grips = [float(v) for v, u in zip(state, units) if u != "deg"]
    scale = 0.8 * min(height, width)
    link = scale / max(1, len(angles)) / 1.2
    thick = max(1.0, min(height, width) / 32)
    x, y, heading = width / 2.0, height - 1.0 - thick, -90.0  # pointing up from the bottom centre
    for k, angle in enumerate(angles):
        heading += angle
        nx = x + link * np.cos(np.radians(heading))
        ny = y + link * np.sin(np.radians(heading))
        _segment(image, (x, y), (nx, ny), thick, COLOURS[k % len(COLOURS)])
        x, y = nx, ny
    for k, opening in enumerate(grips):  # jaws at the tip, spread by the opening (0..100)
        spread = 10.0 + 0.5 * np.clip(opening, 0.0, 100.0)
        colour = np.array([240, 240, 240], dtype=np.uint8) - 40 * k
        for side in (-1.0, 1.0):
            tip = (x + 0.5 * link * np.cos(np.radians(heading + side * spread)),
                   y + 0.5 * link * np.sin(np.radians(heading + side * spread)))
            _segment(image, (x, y), tip, thick * 0.75, colour)
    return image


def _segment(image: np.ndarray, a: tuple[float, float], b: tuple[float, float], thick: float, colour: np.ndarray) -> None:
    """Paint pixels within ``thick / 2`` of the segment ``a``-``b`` (x, y in pixels)."""
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy or 1e-9
    t = np.clip(((xs - ax) * dx + (ys - ay) * dy) / length2, 0.0, 1.0)
    dist2 = (xs - ax - t * dx) ** 2 + (ys - ay - t * dy) ** 2
    image[dist2 <= (thick / 2 + 0.5) ** 2] = colour


class JointStateCamera:
    """The emulated camera named ``name``: :meth:`read` draws ``state()`` (the joint positions read
    this tick, ``[M]`` in ``units``) at ``height`` x ``width``. Same methods as a real camera."""

    def __init__(
        self, name: str, height: int, width: int, units: tuple[str, ...], state: Callable[[], np.ndarray | None]
    ) -> None:
        self.name = name
        self.height, self.width = height, width
        self.units = units
        self._state = state

    def open(self, timeout: float = 5.0) -> None:
        """Nothing to open."""

    def read(self, timeout: float = 1.0) -> np.ndarray:
        state = self._state()
        if state is None:
            state = np.zeros(len(self.units), dtype=np.float32)
        return draw_joint_state(state, self.units, self.height, self.width)

    def close(self) -> None:
        """Nothing to close."""
