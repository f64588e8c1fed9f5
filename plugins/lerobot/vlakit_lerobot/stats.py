"""Feature statistics as LeRobot stores them: ``{feature: {min, max, mean, std, count}}``.

Vector features reduce over frames (each stat ``[D]``); camera features over frames and pixels
per channel, on values scaled to ``[0, 1]`` (each stat ``[3, 1, 1]``); ``count`` is ``[1]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def vector_stats(values: np.ndarray) -> dict[str, list]:
    """Stats of ``values`` ``[T, D]`` (or ``[T]``) over frames."""
    x = np.asarray(values, dtype=np.float64)
    x = x.reshape(len(x), -1)
    return {
        "min": x.min(0).tolist(),
        "max": x.max(0).tolist(),
        "mean": x.mean(0).tolist(),
        "std": x.std(0).tolist(),
        "count": [int(len(x))],
    }


def image_stats(frames: np.ndarray, max_frames: int = 100) -> dict[str, list]:
    """Per-channel stats of ``uint8`` frames ``[T, H, W, 3]`` scaled to ``[0, 1]``, on up to
    ``max_frames`` frames spread over the episode (``count`` is the frames used)."""
    step = max(1, int(np.ceil(len(frames) / max_frames)))
    x = np.asarray(frames[::step], dtype=np.float64) / 255.0
    flat = x.reshape(-1, 3)

    def shaped(v: np.ndarray) -> list:
        return v.reshape(3, 1, 1).tolist()

    return {
        "min": shaped(flat.min(0)),
        "max": shaped(flat.max(0)),
        "mean": shaped(flat.mean(0)),
        "std": shaped(flat.std(0)),
        "count": [int(len(x))],
    }


def aggregate(per_episode: Sequence[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Combine per-episode stats: min of mins, max of maxes, count-weighted mean, pooled std."""
    out: dict[str, dict[str, Any]] = {}
    keys = sorted({k for stats in per_episode for k in stats})
    for key in keys:
        parts = [s[key] for s in per_episode if key in s]
        counts = np.array([float(np.asarray(p["count"]).reshape(-1)[0]) for p in parts])
        means = [np.asarray(p["mean"], dtype=np.float64) for p in parts]
        stds = [np.asarray(p["std"], dtype=np.float64) for p in parts]
        total = counts.sum()
        w = (counts / total).reshape(-1, *([1] * means[0].ndim))
        mean = (w * np.stack(means)).sum(0)
        var = (w * (np.stack(stds) ** 2 + (np.stack(means) - mean) ** 2)).sum(0)
        out[key] = {
            "min": np.min(np.stack([np.asarray(p["min"], dtype=np.float64) for p in parts]), 0).tolist(),
            "max": np.max(np.stack([np.asarray(p["max"], dtype=np.float64) for p in parts]), 0).tolist(),
            "mean": mean.tolist(),
            "std": np.sqrt(var).tolist(),
            "count": [int(total)],
        }
    return out
