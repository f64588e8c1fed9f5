"""Sprite masks, computed once per pixel size: object shapes, the gripper, digit marker pads.

A mask is a ``bool`` array ``[2R+1, 2R+1]`` centred on its middle pixel.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

#: 3x5 pixel font for the marker digits.
_FONT: dict[str, tuple[str, ...]] = {
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", "###", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
}

MARKER_PAD = (235, 235, 225)
MARKER_INK = (20, 20, 20)
GRIPPER_DARK = (0, 0, 0)
GRIPPER_LIGHT = (255, 255, 255)


def _grid(r_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets ``(u, v)`` in units of ``r_px`` over a ``[2R+1, 2R+1]`` window."""
    half = int(math.ceil(r_px))
    ax = np.arange(-half, half + 1, dtype=np.float64)
    v, u = np.meshgrid(ax, ax, indexing="ij")
    return u / r_px, v / r_px


def polygon_mask(u: np.ndarray, v: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Points ``(u, v)`` inside the polygon ``vertices`` (even-odd rule), as a ``bool`` mask."""
    inside = np.zeros(u.shape, dtype=bool)
    n = len(vertices)
    for i in range(n):
        (x1, y1), (x2, y2) = vertices[i], vertices[(i + 1) % n]
        crosses = (y1 > v) != (y2 > v)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (v - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (u < x_at)
    return inside


def _star(points: int = 5, outer: float = 1.1, inner: float = 0.5) -> list[tuple[float, float]]:
    verts = []
    for k in range(2 * points):
        r = outer if k % 2 == 0 else inner
        a = -math.pi / 2 + k * math.pi / points
        verts.append((r * math.cos(a), r * math.sin(a)))
    return verts


@cache
def shape_mask(shape: str, r_px: float) -> np.ndarray:
    """Mask of ``shape`` with nominal radius ``r_px`` pixels, ``bool`` ``[2R+1, 2R+1]``."""
    u, v = _grid(r_px)
    if shape == "circle":
        mask = u * u + v * v <= 1.0
    elif shape == "square":
        mask = (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    elif shape == "diamond":
        mask = np.abs(u) + np.abs(v) <= 1.05
    elif shape == "triangle":
        mask = polygon_mask(u, v, [(0.0, -1.05), (1.05, 0.85), (-1.05, 0.85)])
    elif shape == "star":
        mask = polygon_mask(u, v, _star())
    elif shape == "cross":
        arm = 0.34
        mask = ((np.abs(u) <= arm) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= arm) & (np.abs(u) <= 1.0))
    else:
        raise ValueError(f"unknown shape {shape!r}")
    mask.setflags(write=False)
    return mask


@cache
def gripper_layers(scale: float, closed: bool) -> tuple[tuple[np.ndarray, tuple[int, int, int]], ...]:
    """Gripper sprite as ``(mask, colour)`` layers drawn in order, all ``[2R+1, 2R+1]``.

    A black ring with a white outline; when closed, a black dot in the middle as well.
    ``scale`` is pixels per 1/64 of the image (1.0 at 64x64).
    """
    outer = 6.0 * scale
    u, v = _grid(outer)
    d = np.sqrt(u * u + v * v) * outer
    layers = [
        ((d > 4.6 * scale) & (d <= outer), GRIPPER_LIGHT),
        ((d > 3.4 * scale) & (d <= 4.6 * scale), GRIPPER_DARK),
    ]
    if closed:
        layers.append((d <= 1.8 * scale, GRIPPER_DARK))
    for mask, _ in layers:
        mask.setflags(write=False)
    return tuple(layers)


@cache
def marker_sprite(digit: str, cell: int) -> np.ndarray:
    """RGB sprite ``uint8`` ``[7*cell, 5*cell, 3]``: a light pad with a dark 3x5 digit, ``cell`` px per font pixel."""
    rows = _FONT[digit]
    glyph = np.array([[ch == "#" for ch in row] for row in rows], dtype=bool)
    glyph = np.kron(glyph, np.ones((cell, cell), dtype=bool))
    sprite = np.empty((7 * cell, 5 * cell, 3), dtype=np.uint8)
    sprite[:] = MARKER_PAD
    sprite[cell : 6 * cell, cell : 4 * cell][glyph] = MARKER_INK
    sprite.setflags(write=False)
    return sprite
