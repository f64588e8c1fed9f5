"""The tabletop's cameras: ``top`` (the whole table from above) and ``wrist`` (around the gripper)."""

from __future__ import annotations

import numpy as np

#: Camera names, in the order a robot or dataset lists them.
CAMERA_NAMES = ("top", "wrist")


def wrist_view(top: np.ndarray, x: float, y: float) -> np.ndarray:
    """The ``wrist`` camera from the ``top`` image ``uint8`` ``[S, S, 3]`` and the gripper at
    ``(x, y)`` (table units = fractions of the image): the window of half the image's side centred
    on the gripper, scaled up to ``[S, S, 3]`` (nearest pixel); black beyond the table's edge."""
    s = top.shape[0]
    w = max(1, s // 2)
    padded = np.pad(top, ((w, w), (w, w), (0, 0)))
    row0 = int(np.floor(y * s)) - w // 2 + w
    col0 = int(np.floor(x * s)) - w // 2 + w
    window = padded[row0 : row0 + w, col0 : col0 + w]
    pick = np.arange(s) * w // s
    return np.ascontiguousarray(window[pick][:, pick])


def views(cameras: tuple[str, ...] | list[str], top: np.ndarray, state: np.ndarray) -> dict[str, np.ndarray]:
    """{camera: image} for ``cameras`` from the ``top`` image and the state ``[x, y, grip]``."""
    out = {}
    for name in cameras:
        out[name] = top if name == "top" else wrist_view(top, float(state[0]), float(state[1]))
    return out
