"""Deterministic synthetic episodes for the LeRobot tests: two cameras of different sizes, a
3-D state, a 4-D action, a few tasks. Images are smooth so video compression stays gentle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vlakit import ActionSpace, CameraSpec, Episode
from vlakit.interfaces.writer import RecordingSpec

SPACE = ActionSpace(
    names=("j1", "j2", "j3", "gripper"), units=("deg", "deg", "deg", "percent"),
    low=(-180.0, -180.0, -180.0, 0.0), high=(180.0, 180.0, 180.0, 100.0),
)
CAMERAS = (CameraSpec("front", 64, 64), CameraSpec("wrist", 32, 48))
SPEC = RecordingSpec(fps=15, action_space=SPACE, cameras=CAMERAS, state_names=("j1", "j2", "j3"), robot_type="test-arm")
TASKS = ("pick up the cube", "open the drawer", "wave")


def frame(height: int, width: int, k: int, t: int) -> np.ndarray:
    """A smooth image that changes with episode ``k`` and step ``t``."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 128 + 100 * np.sin(x / width * 3.0 + 0.3 * t + k)
    g = 128 + 100 * np.cos(y / height * 2.0 - 0.2 * t)
    b = np.full_like(x, (40 * k + 9 * t) % 256)
    return np.stack([r, g, b], -1).clip(0, 255).astype(np.uint8)


def episode(k: int, length: int | None = None) -> Episode:
    """Episode ``k``: ``length`` steps (default 5 + 3 * (k % 4))."""
    n = length or 5 + 3 * (k % 4)
    t = np.arange(n, dtype=np.float32)
    actions = np.stack([10 * np.sin(t + k), 5 * t - k, -t, (t * 10 + k) % 100], -1).astype(np.float32)
    states = np.stack([np.cos(t) * k, t, t * 0.5 + k], -1).astype(np.float32)
    images = {c.name: np.stack([frame(c.height, c.width, k, i) for i in range(n)]) for c in CAMERAS}
    return Episode(images=images, actions=actions, states=states, instruction=TASKS[k % len(TASKS)])


def png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_v21(root: Path, episodes: list[Episode], fps: int = 15, images_in_parquet: bool = False) -> None:
    """A LeRobot v2.1 dataset at ``root``, following the published layout: one parquet and one
    MP4 per camera per episode, jsonl metadata (episodes, tasks, per-episode stats), info.json.
    ``images_in_parquet``: cameras as ``image`` features, PNG bytes in the parquet rows instead."""
    from vlakit_lerobot.stats import image_stats, vector_stats
    from vlakit_lerobot.video import encode_frames

    tasks: dict[str, int] = {}
    features = {
        f"observation.images.{c.name}": {
            "dtype": "video", "shape": [c.height, c.width, 3], "names": ["height", "width", "channel"],
            "info": {"video.fps": float(fps), "video.height": c.height, "video.width": c.width,
                     "video.channels": 3, "video.codec": "h264", "video.pix_fmt": "yuv420p",
                     "video.is_depth_map": False, "has_audio": False},
        }
        for c in CAMERAS
    }
    features["observation.state"] = {"dtype": "float32", "shape": [3], "names": {"motors": ["j1", "j2", "j3"]}}
    features["action"] = {"dtype": "float32", "shape": [4], "names": {"motors": list(SPACE.names)}}
    if images_in_parquet:
        for c in CAMERAS:
            features[f"observation.images.{c.name}"] = {
                "dtype": "image", "shape": [c.height, c.width, 3], "names": ["height", "width", "channel"]}
    for name, dtype in (("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"),
                        ("index", "int64"), ("task_index", "int64")):
        features[name] = {"dtype": dtype, "shape": [1], "names": None}
    ep_lines, stat_lines, start = [], [], 0
    for e, ep in enumerate(episodes):
        n = len(ep)
        ti = tasks.setdefault(ep.instruction, len(tasks))
        cols = {
            "observation.state": pa.array(ep.states.tolist(), pa.list_(pa.float32())),
            "action": pa.array(ep.actions.tolist(), pa.list_(pa.float32())),
            "timestamp": pa.array((np.arange(n) / fps).astype(np.float32)),
            "frame_index": pa.array(np.arange(n, dtype=np.int64)),
            "episode_index": pa.array(np.full(n, e, dtype=np.int64)),
            "index": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "task_index": pa.array(np.full(n, ti, dtype=np.int64)),
        }
        if images_in_parquet:
            image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
            for c in CAMERAS:
                cells = [{"bytes": png(im), "path": None} for im in ep.images[c.name]]
                cols[f"observation.images.{c.name}"] = pa.array(cells, image_type)
        path = root / f"data/chunk-000/episode_{e:06d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), path)
        for c in CAMERAS if not images_in_parquet else ():
            vpath = root / f"videos/chunk-000/observation.images.{c.name}/episode_{e:06d}.mp4"
            vpath.parent.mkdir(parents=True, exist_ok=True)
            encode_frames(vpath, ep.images[c.name], fps)
        ep_lines.append({"episode_index": e, "tasks": [ep.instruction], "length": n})
        stats = {"observation.state": vector_stats(ep.states), "action": vector_stats(ep.actions)}
        stats.update({f"observation.images.{c}": image_stats(ep.images[c]) for c in ep.images})
        stat_lines.append({"episode_index": e, "stats": stats})
        start += n
    info = {
        "codebase_version": "v2.1", "robot_type": "test-arm", "total_episodes": len(episodes),
        "total_frames": start, "total_tasks": len(tasks), "total_videos": len(episodes) * len(CAMERAS),
        "total_chunks": 1, "chunks_size": 1000, "fps": fps, "splits": {"train": f"0:{len(episodes)}"},
        "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet",
        "video_path": None if images_in_parquet else "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4",
        "features": features,
    }
    meta = root / "meta"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "info.json").write_text(json.dumps(info, indent=4))
    (meta / "episodes.jsonl").write_text("".join(json.dumps(x) + "\n" for x in ep_lines))
    (meta / "tasks.jsonl").write_text("".join(json.dumps({"task_index": i, "task": t}) + "\n" for t, i in tasks.items()))
    (meta / "episodes_stats.jsonl").write_text("".join(json.dumps(x) + "\n" for x in stat_lines))
