"""The LeRobot dataset layout, versions v3.0 and v2.0/v2.1, as published by LeRobot.

v3.0 (many episodes per file)::

    meta/info.json                      features, fps, path templates, chunks_size, file sizes
    meta/stats.json                     per-feature min/max/mean/std/count
    meta/tasks.parquet                  task (the index) -> task_index
    meta/episodes/chunk-000/file-000.parquet
                                        one row per episode: episode_index, tasks, length,
                                        data/chunk_index, data/file_index, dataset_from_index,
                                        dataset_to_index, videos/<key>/{chunk_index, file_index,
                                        from_timestamp, to_timestamp}, stats/<feature>/<stat>, ...
    data/chunk-000/file-000.parquet     one row per frame
    videos/<key>/chunk-000/file-000.mp4 the frames of many episodes, one after the other

v2.1 (one file per episode)::

    meta/info.json, meta/episodes.jsonl, meta/tasks.jsonl, meta/episodes_stats.jsonl
    data/chunk-000/episode_000000.parquet
    videos/chunk-000/<key>/episode_000000.mp4

(v2.0 has meta/stats.json instead of meta/episodes_stats.jsonl.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from vlakit_lerobot.errors import LeRobotFormatError

V30, V21, V20 = "v3.0", "v2.1", "v2.0"
READABLE = (V30, V21, V20)

INFO = "meta/info.json"
STATS = "meta/stats.json"
TASKS = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = EPISODES_DIR + "/" + CHUNK_FILE + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
LEGACY_EPISODES = "meta/episodes.jsonl"
LEGACY_TASKS = "meta/tasks.jsonl"
LEGACY_EPISODES_STATS = "meta/episodes_stats.jsonl"
LEGACY_DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
LEGACY_VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"

DEFAULT_CHUNKS_SIZE = 1000
DEFAULT_DATA_FILE_MB = 100
DEFAULT_VIDEO_FILE_MB = 200
#: Columns every frame row has besides the features a dataset declares.
FRAME_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")


def next_file(chunk: int, file: int, chunks_size: int) -> tuple[int, int]:
    """The (chunk, file) indices after ``(chunk, file)``: ``chunks_size`` files per chunk."""
    return (chunk + 1, 0) if file == chunks_size - 1 else (chunk, file + 1)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LeRobotFormatError(f"{path} is missing: not a LeRobot dataset") from None
    except json.JSONDecodeError as exc:
        raise LeRobotFormatError(f"{path}: not valid JSON ({exc})") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise LeRobotFormatError(f"{path} is missing")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise LeRobotFormatError(f"{path}:{n}: not valid JSON ({exc})") from None
    return rows


def read_info(root: Path) -> dict[str, Any]:
    """``meta/info.json`` of the dataset at ``root``; a clear error when it is not a readable LeRobot dataset."""
    info = read_json(Path(root) / INFO)
    version = info.get("codebase_version")
    if version not in READABLE:
        raise LeRobotFormatError(
            f"{root}: LeRobot dataset version {version!r} is not supported (readable: {', '.join(READABLE)})"
        )
    for key in ("fps", "features", "data_path"):
        if key not in info:
            raise LeRobotFormatError(f"{Path(root) / INFO}: no {key!r}")
    return info


def camera_keys(info: dict[str, Any]) -> list[str]:
    """Feature keys of the cameras (dtype ``video`` or ``image``), in info.json's order."""
    return [k for k, ft in info["features"].items() if ft.get("dtype") in ("video", "image")]


def feature_names(info: dict[str, Any], key: str) -> list[str]:
    """Names of the entries of the 1-D feature ``key`` (``key.0``, ... when the dataset names none)."""
    ft = info["features"][key]
    size = int(ft["shape"][0]) if ft.get("shape") else 1
    names = ft.get("names")
    if isinstance(names, dict):  # older datasets: {"motors": [...]}
        names = next(iter(names.values()), None)
    if isinstance(names, list) and len(names) == size and all(isinstance(n, str) for n in names):
        return names
    return [f"{key}.{i}" for i in range(size)]


@dataclass
class EpisodeRecord:
    """Where one episode lives: its frames' data file and row range, and per camera its video
    file and where the episode starts in it (seconds)."""

    index: int
    length: int
    tasks: list[str]
    data_file: str
    #: the episode's first and past-last global frame ``index``
    start: int
    stop: int
    videos: dict[str, tuple[str, float]] = field(default_factory=dict)


@dataclass
class LeRobotMeta:
    """Everything but the frames: info, tasks, episodes and (when present) stats."""

    root: Path
    info: dict[str, Any]
    tasks: dict[int, str]
    episodes: list[EpisodeRecord]
    stats: dict[str, dict[str, Any]] | None

    @property
    def version(self) -> str:
        return str(self.info["codebase_version"])

    @property
    def fps(self) -> float:
        return float(self.info["fps"])

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        return self.info["features"]

    @property
    def cameras(self) -> list[str]:
        return camera_keys(self.info)

    @property
    def total_frames(self) -> int:
        return sum(e.length for e in self.episodes)


def read_tasks(root: Path) -> dict[int, str]:
    """``meta/tasks.parquet`` (v3.0) as {task_index: task}; empty when the dataset has none yet."""
    path = root / TASKS
    if not path.exists():
        return {}
    table = pq.read_table(path)
    names = table.column_names
    text_col = "task" if "task" in names else "__index_level_0__" if "__index_level_0__" in names else None
    if text_col is None or "task_index" not in names:
        raise LeRobotFormatError(f"{path}: expected columns task and task_index, found {names}")
    return {int(i): str(t) for i, t in zip(table.column("task_index").to_pylist(), table.column(text_col).to_pylist())}


def episode_files(root: Path) -> list[Path]:
    """The v3.0 episodes metadata files in (chunk, file) order."""
    return sorted((root / EPISODES_DIR).glob("chunk-*/file-*.parquet"))


def _v3_episodes(root: Path, info: dict[str, Any]) -> list[EpisodeRecord]:
    videos = [k for k in camera_keys(info) if info["features"][k]["dtype"] == "video"]
    records = []
    for path in episode_files(root):
        columns = [c for c in pq.read_schema(path).names if not c.startswith("stats/")]
        rows = pq.read_table(path, columns=columns).to_pylist()
        for row in rows:
            data = info["data_path"].format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"])
            video = {}
            for key in videos:
                file = info["video_path"].format(
                    video_key=key, chunk_index=row[f"videos/{key}/chunk_index"], file_index=row[f"videos/{key}/file_index"]
                )
                video[key] = (file, float(row[f"videos/{key}/from_timestamp"]))
            records.append(
                EpisodeRecord(
                    index=int(row["episode_index"]),
                    length=int(row["length"]),
                    tasks=list(row.get("tasks") or []),
                    data_file=data,
                    start=int(row["dataset_from_index"]),
                    stop=int(row["dataset_to_index"]),
                    videos=video,
                )
            )
    records.sort(key=lambda r: r.index)
    return records


def _legacy_episodes(root: Path, info: dict[str, Any]) -> list[EpisodeRecord]:
    videos = [k for k in camera_keys(info) if info["features"][k]["dtype"] == "video"]
    size = int(info.get("chunks_size", DEFAULT_CHUNKS_SIZE))
    records, start = [], 0
    for row in sorted(read_jsonl(root / LEGACY_EPISODES), key=lambda r: r["episode_index"]):
        e, length = int(row["episode_index"]), int(row["length"])
        chunk = e // size
        video = {
            key: (info["video_path"].format(episode_chunk=chunk, video_key=key, episode_index=e), 0.0) for key in videos
        }
        data = info["data_path"].format(episode_chunk=chunk, episode_index=e)
        records.append(EpisodeRecord(e, length, list(row.get("tasks") or []), data, start, start + length, video))
        start += length
    return records


def _stats(root: Path, version: str) -> dict[str, dict[str, Any]] | None:
    if (root / STATS).exists():
        return read_json(root / STATS)
    if version == V21 and (root / LEGACY_EPISODES_STATS).exists():
        from vlakit_lerobot.stats import aggregate

        return aggregate([row["stats"] for row in read_jsonl(root / LEGACY_EPISODES_STATS)])
    return None


def load_meta(root: Path) -> LeRobotMeta:
    """Read the metadata of the LeRobot dataset at ``root`` (v3.0, v2.1 or v2.0)."""
    root = Path(root)
    info = read_info(root)
    version = info["codebase_version"]
    if version == V30:
        tasks, episodes = read_tasks(root), _v3_episodes(root, info)
    else:
        tasks = {int(r["task_index"]): str(r["task"]) for r in read_jsonl(root / LEGACY_TASKS)}
        episodes = _legacy_episodes(root, info)
    return LeRobotMeta(root, info, tasks, episodes, _stats(root, version))
