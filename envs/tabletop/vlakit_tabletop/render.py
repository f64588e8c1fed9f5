"""Top-down rendering of a :class:`~vlakit_tabletop.scene.Scene` with numpy slicing.

Sprites are precomputed per pixel size; a frame is a copy of the padded table background with
markers, objects and the gripper pasted in, then cropped. No per-pixel Python.
"""

from __future__ import annotations

import math

import numpy as np
from vlakit_tabletop.scene import Scene
from vlakit_tabletop.sprites import gripper_layers, marker_sprite, shape_mask
from vlakit_tabletop.vocab import COLOURS, SIZES, TABLES


class Renderer:
    """Renders scenes to ``uint8`` RGB images ``[size, size, 3]``.

    A table point ``(x, y)`` lands on pixel ``(row, col) = (floor(y * size), floor(x * size))``.
    """

    def __init__(self, size: int = 64) -> None:
        if size < 16:
            raise ValueError(f"image size must be at least 16 pixels, got {size}")
        self.size = size
        self.scale = size / 64.0
        self.cell = max(1, round(2 * self.scale))
        self.radius_px = {name: r * size for name, r in SIZES.items()}
        halves = [math.ceil(r) for r in self.radius_px.values()]
        halves += [math.ceil(6.0 * self.scale), 4 * self.cell]
        self.pad = max(halves) + 2
        self._backgrounds: dict[str, np.ndarray] = {}

    def background(self, table: str) -> np.ndarray:
        """The padded, empty table ``uint8`` ``[size + 2 pad, size + 2 pad, 3]`` (read-only)."""
        bg = self._backgrounds.get(table)
        if bg is None:
            n = self.size + 2 * self.pad
            bg = np.empty((n, n, 3), dtype=np.uint8)
            bg[:] = TABLES[table]
            bg.setflags(write=False)
            self._backgrounds[table] = bg
        return bg

    def _pixel(self, x: float, y: float) -> tuple[int, int]:
        """Padded-canvas (row, col) of table point ``(x, y)``, clamped to the table."""
        last = self.size - 1
        col = min(max(int(x * self.size), 0), last)
        row = min(max(int(y * self.size), 0), last)
        return row + self.pad, col + self.pad

    def render(self, scene: Scene) -> np.ndarray:
        """The scene as ``uint8`` ``[size, size, 3]``."""
        canvas = self.background(scene.table).copy()
        for marker in scene.markers:
            sprite = marker_sprite(marker.digit, self.cell)
            row, col = self._pixel(marker.x, marker.y)
            h, w = sprite.shape[:2]
            r0, c0 = row - h // 2, col - w // 2
            canvas[r0 : r0 + h, c0 : c0 + w] = sprite
        held = scene.held
        order = [i for i in range(len(scene.objects)) if i != held]
        if held is not None:
            order.append(held)  # the carried object is drawn above the others
        for i in order:
            obj = scene.objects[i]
            mask = shape_mask(obj.shape, self.radius_px[obj.size])
            half = mask.shape[0] // 2
            row, col = self._pixel(obj.x, obj.y)
            canvas[row - half : row + half + 1, col - half : col + half + 1][mask] = COLOURS[obj.colour]
        row, col = self._pixel(scene.gripper_x, scene.gripper_y)
        for mask, colour in gripper_layers(self.scale, scene.closed):
            half = mask.shape[0] // 2
            canvas[row - half : row + half + 1, col - half : col + half + 1][mask] = colour
        p = self.pad
        return np.ascontiguousarray(canvas[p : p + self.size, p : p + self.size])
