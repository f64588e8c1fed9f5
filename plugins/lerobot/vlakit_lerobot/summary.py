"""``vlakit dataset info``: a LeRobot dataset at a glance, and a contact sheet of its cameras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from vlakit_lerobot import layout
from vlakit_lerobot.config import LeRobotConfig
from vlakit_lerobot.dataset import LeRobotDataset, short_name

#: Height of one thumbnail in the contact sheet, pixels.
THUMB = 128


def _fmt(values: Any) -> str:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    shown = ", ".join(f"{v:.4g}" for v in flat[:8])
    return f"[{shown}{', ...' if flat.size > 8 else ''}]"


def describe(meta: layout.LeRobotMeta, max_tasks: int = 10) -> str:
    """Version, fps, episodes, frames, tasks, features and stats as text."""
    lines = [
        f"LeRobot {meta.version} dataset at {meta.root}",
        f"robot: {meta.info.get('robot_type')}   fps: {meta.fps:g}   episodes: {len(meta.episodes)}   "
        f"frames: {meta.total_frames}   tasks: {len(meta.tasks)}",
        "features:",
    ]
    for key, ft in meta.features.items():
        if key in layout.FRAME_COLUMNS:
            continue
        extra = ""
        if ft.get("dtype") == "video":
            info = ft.get("info") or ft.get("video_info") or {}
            extra = f"  {info.get('video.codec', '?')} {info.get('video.pix_fmt', '')}".rstrip()
        elif ft.get("names") is not None:
            extra = f"  names {layout.feature_names(meta.info, key)}"
        lines.append(f"  {key:<32} {ft.get('dtype'):<8} {list(ft.get('shape', []))}{extra}")
    lines.append("tasks:")
    for i, task in sorted(meta.tasks.items())[:max_tasks]:
        lines.append(f"  {i:>4}  {task}")
    if len(meta.tasks) > max_tasks:
        lines.append(f"  ... and {len(meta.tasks) - max_tasks} more")
    if meta.stats:
        lines.append("stats:")
        for key, stats in meta.stats.items():
            if key in layout.FRAME_COLUMNS:
                continue
            parts = "  ".join(f"{name} {_fmt(stats[name])}" for name in ("mean", "std", "min", "max") if name in stats)
            lines.append(f"  {key}: {parts}")
    else:
        lines.append("stats: none stored (the lerobot dataset computes and caches them when it trains)")
    return "\n".join(lines)


def contact_sheet(root: Path, out: Path, per_camera: int = 6, cache_dir: Path | None = None) -> Path:
    """Save a PNG with one row per camera of ``per_camera`` frames spread over the episodes."""
    meta = layout.load_meta(root)
    action = "action" if "action" in meta.features else None
    if action is None:
        raise layout.LeRobotFormatError(f"{root}: no 'action' feature; the contact sheet reads frames by sample")
    state = "observation.state" if "observation.state" in meta.features else None
    dataset = LeRobotDataset(LeRobotConfig(root=str(root), state=state))
    dataset.prepare(cache_dir or Path(out).parent)
    picks = np.linspace(0, len(dataset) - 1, per_camera).round().astype(int)
    samples = [dataset[int(i)] for i in picks]
    cams = [short_name(k) for k in dataset.camera_keys]
    label = 110
    widths = [max(1, round(THUMB * s.images[c].shape[1] / s.images[c].shape[0])) for c in cams for s in samples[:1]]
    sheet = Image.new("RGB", (label + per_camera * (max(widths) + 4), len(cams) * (THUMB + 4)), "white")
    draw = ImageDraw.Draw(sheet)
    for row, cam in enumerate(cams):
        y = row * (THUMB + 4)
        draw.text((4, y + THUMB // 2 - 6), cam[:16], fill="black")
        for col, sample in enumerate(samples):
            image = Image.fromarray(sample.images[cam])
            image = image.resize((max(1, round(THUMB * image.width / image.height)), THUMB))
            sheet.paste(image, (label + col * (max(widths) + 4), y))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
