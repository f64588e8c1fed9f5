"""Episode GIFs (PIL) and success-rate bar plots (matplotlib's Agg canvas, no pyplot state)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vlakit.evaluation.stats import ALL, GroupStats
from vlakit.io import atomic_path


def slug(text: str, limit: int = 60) -> str:
    """``text`` as a lowercase file-name fragment: letters, digits and dashes."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:limit].rstrip("-") or "episode"


def save_gif(frames: Sequence[np.ndarray], path: str | Path, fps: float = 5.0, min_side: int = 256) -> Path:
    """Write ``uint8`` ``[H, W, 3]`` frames as a looping animated GIF (atomically).

    Small frames are enlarged by an integer factor (nearest neighbour) to at least ``min_side``
    pixels, so a 64 px simulator image stays crisp.
    """
    from PIL import Image

    if not frames:
        raise ValueError("no frames to write")
    h, w = np.asarray(frames[0]).shape[:2]
    scale = max(1, -(-min_side // max(h, w)))
    images = [
        Image.fromarray(np.asarray(f, dtype=np.uint8)).resize((w * scale, h * scale), Image.NEAREST)
        for f in frames
    ]
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(20, int(1000 / fps)),
            loop=0,
        )
    return path


def save_success_plot(rows: Sequence[GroupStats], path: str | Path, title: str = "success rate") -> Path:
    """Grouped bars: one group per task family (plus "all"), one bar per split, Wilson CI whiskers."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    splits = list(dict.fromkeys(r.split for r in rows if r.split != ALL))
    families = sorted({r.family for r in rows if r.family != ALL}) + [ALL]
    table = {(r.split, r.family): r for r in rows}
    n_splits = max(1, len(splits))
    fig = Figure(figsize=(min(14.0, max(6.0, 1.5 + len(families) * (0.6 + 0.3 * n_splits))), 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / n_splits
    x = np.arange(len(families))
    for k, split in enumerate(splits):
        cells = [table.get((split, f)) for f in families]
        rate = np.array([c.rate if c else np.nan for c in cells])
        low = np.array([c.rate - c.ci_low if c else 0.0 for c in cells])
        high = np.array([c.ci_high - c.rate if c else 0.0 for c in cells])
        pooled = table.get((split, ALL))
        label = f"{split} (n={pooled.episodes})" if pooled else split
        pos = x - 0.4 + width * (k + 0.5)
        ax.bar(pos, rate, width, yerr=np.stack([low, high]), capsize=3, label=label)
    ax.set_xticks(x)
    ax.set_xticklabels(families, rotation=20, ha="right")
    ax.set_ylim(0.0, 1.05)
    ax.set_ylabel("success rate (95% Wilson CI)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if splits:
        ax.legend(
            fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(splits), frameon=False
        )
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
