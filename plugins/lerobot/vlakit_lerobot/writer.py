"""Writing LeRobot v3.0 datasets, one episode at a time, safe against interruption.

Frames of the episode in progress go to ``.staging/`` (camera streams encoded as they arrive,
numbers in memory). Ending the episode appends it to the current data, video and episodes files,
each rewritten to a temporary file and renamed over the old one; the episodes metadata file is
renamed last, so it is the commit point: until it is replaced the dataset reads as before, with
at most unreferenced rows and frames past the last episode, which the next append drops.
``kill -9`` at any moment therefore loses at most the episode in progress (with
:meth:`LeRobotWriter.write_episodes`, an export, the group of episodes in progress: it commits
50 at a time, so the files are rewritten once per group, not once per episode). Reopening a dataset
appends to it, after clearing leftovers and rewriting info.json and stats.json from the
episodes metadata.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from vlakit_lerobot import layout, stats, video
from vlakit_lerobot.errors import LeRobotFormatError
from vlakit_lerobot.tables import tasks_table, vector_column, write_table

from vlakit import Episode, Observation
from vlakit.interfaces import EpisodeWriter, RecordingSpec
from vlakit.io import atomic_path, atomic_write_text

STATE = "observation.state"
ACTION = "action"
IMAGE_PREFIX = "observation.images."
STAGING = ".staging"
#: Every n-th frame of an episode is kept in memory for the camera statistics (at most 100).
STATS_FRAME_STRIDE = 5


def camera_key(name: str) -> str:
    """Feature key of camera ``name`` (``observation.images.<name>``)."""
    return IMAGE_PREFIX + name


def spec_features(spec: RecordingSpec) -> dict[str, dict[str, Any]]:
    """info.json ``features`` of a recording: cameras as video, state, action, and the frame columns.

    The action carries vlakit's units and limits under ``vlakit`` (other readers ignore it)."""
    features: dict[str, dict[str, Any]] = {}
    for cam in spec.cameras:
        features[camera_key(cam.name)] = {
            "dtype": "video",
            "shape": [cam.height, cam.width, 3],
            "names": ["height", "width", "channels"],
            "info": {
                "video.height": cam.height,
                "video.width": cam.width,
                "video.codec": video.CODEC_NAME,
                "video.pix_fmt": video.PIX_FMT,
                "video.is_depth_map": False,
                "video.fps": float(spec.fps),
                "video.channels": 3,
                "has_audio": False,
            },
        }
    if spec.state_names:
        features[STATE] = {"dtype": "float32", "shape": [len(spec.state_names)], "names": list(spec.state_names)}
    space = spec.action_space
    features[ACTION] = {
        "dtype": "float32",
        "shape": [space.dim],
        "names": list(space.names),
        "vlakit": {"units": list(space.units), "low": list(space.low), "high": list(space.high)},
    }
    features["timestamp"] = {"dtype": "float32", "shape": [1], "names": None}
    for name in ("frame_index", "episode_index", "index", "task_index"):
        features[name] = {"dtype": "int64", "shape": [1], "names": None}
    return features


def _layout_of(features: dict[str, dict[str, Any]]) -> dict[str, tuple[str, list[int]]]:
    return {k: (ft["dtype"], list(ft["shape"])) for k, ft in features.items()}


@dataclass
class _Staged:
    """An ended episode not yet appended to the dataset."""

    index: int
    task: str
    frames: int
    first: int
    videos: dict[str, Path]
    table: pa.Table
    stats: dict[str, Any]


@dataclass
class _Episode:
    """The episode in progress."""

    task: str
    encoders: dict[str, video.EpisodeEncoder]
    actions: list[np.ndarray] = field(default_factory=list)
    states: list[np.ndarray] = field(default_factory=list)
    stat_frames: dict[str, list[np.ndarray]] = field(default_factory=dict)


class LeRobotWriter(EpisodeWriter):
    """Records episodes into the LeRobot v3.0 dataset at ``root`` (created, or appended to)."""

    def __init__(
        self,
        root: Path,
        spec: RecordingSpec,
        data_file_mb: float = layout.DEFAULT_DATA_FILE_MB,
        video_file_mb: float = layout.DEFAULT_VIDEO_FILE_MB,
        chunks_size: int = layout.DEFAULT_CHUNKS_SIZE,
    ) -> None:
        self.root = Path(root)
        self._spec = spec
        self.features = spec_features(spec)
        self._episode: _Episode | None = None
        self._rows: list[dict[str, Any]] = []  # episodes metadata, one dict per episode
        self._tasks: dict[str, int] = {}
        self._pending: list[_Staged] = []  # ended, not yet committed (see write_episodes)
        self._deferred = False
        self._foreign_video: set[str] = set()  # cameras whose files another encoder wrote: never joined
        if (self.root / layout.INFO).exists():
            self._reopen()
        else:
            if self.root.exists() and any(self.root.iterdir()):
                raise LeRobotFormatError(f"{self.root} exists and is not a LeRobot dataset; record into a new directory")
            self.info = {
                "codebase_version": layout.V30,
                "robot_type": spec.robot_type,
                "total_episodes": 0,
                "total_frames": 0,
                "total_tasks": 0,
                "chunks_size": int(chunks_size),
                "data_files_size_in_mb": data_file_mb,
                "video_files_size_in_mb": video_file_mb,
                "fps": spec.fps if spec.fps != int(spec.fps) else int(spec.fps),
                "splits": {},
                "data_path": layout.DATA_PATH,
                "video_path": layout.VIDEO_PATH if spec.cameras else None,
                "features": self.features,
            }
            self._write_summary()
        shutil.rmtree(self.root / STAGING, ignore_errors=True)

    @property
    def spec(self) -> RecordingSpec:
        return self._spec

    # -- reopening -----------------------------------------------------------------------
    def _reopen(self) -> None:
        info = layout.read_json(self.root / layout.INFO)
        if info.get("codebase_version") != layout.V30:
            raise LeRobotFormatError(
                f"{self.root} is a LeRobot {info.get('codebase_version')} dataset; only v3.0 is appended to "
                "(convert it first: vlakit dataset convert)"
            )
        if _layout_of(info["features"]) != _layout_of(self.features):
            raise LeRobotFormatError(
                f"cannot append to {self.root}: its features {_layout_of(info['features'])} differ from this "
                f"recording's {_layout_of(self.features)}"
            )
        if float(info["fps"]) != float(self.spec.fps):
            raise LeRobotFormatError(
                f"cannot append to {self.root}: it holds {info['fps']} frames per second, this recording {self.spec.fps:g}"
            )
        self.info = info
        self._foreign_video = {
            k for k, ft in info["features"].items()
            if ft["dtype"] == "video" and (ft.get("info") or {}).get("video.codec") != video.CODEC_NAME
        }
        for tmp in self.root.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
        for path in layout.episode_files(self.root):
            self._rows.extend(pq.read_table(path).to_pylist())
        self._rows.sort(key=lambda r: r["episode_index"])
        meta_tasks = layout.read_tasks(self.root)
        self._tasks = {text: i for i, text in meta_tasks.items()}
        self._write_summary()

    # -- recording -----------------------------------------------------------------------
    def begin_episode(self, instruction: str) -> None:
        if self._episode is not None:
            raise RuntimeError("an episode is in progress; end or discard it first")
        staging = self.root / STAGING / "current"
        staging.mkdir(parents=True, exist_ok=True)
        encoders = {
            cam.name: video.EpisodeEncoder(staging / f"{cam.name}.mp4", self.spec.fps, cam.height, cam.width)
            for cam in self.spec.cameras
        }
        self._episode = _Episode(task=instruction, encoders=encoders, stat_frames={c: [] for c in encoders})

    def add_frame(self, observation: Observation, action: np.ndarray) -> None:
        ep = self._episode
        if ep is None:
            raise RuntimeError("begin_episode() before add_frame()")
        t = len(ep.actions)
        for name, encoder in ep.encoders.items():
            if name not in observation.images:
                raise LeRobotFormatError(f"frame {t} has no image from camera {name!r}")
            image = np.asarray(observation.images[name])
            cam = next(c for c in self.spec.cameras if c.name == name)
            if image.shape != (cam.height, cam.width, 3) or image.dtype != np.uint8:
                raise LeRobotFormatError(
                    f"camera {name!r}: frame {t} is {image.dtype} {image.shape}, expected uint8 {(cam.height, cam.width, 3)}"
                )
            encoder.add(image)
            if t % STATS_FRAME_STRIDE == 0 and len(ep.stat_frames[name]) < 100:
                ep.stat_frames[name].append(image.copy())
        a = np.asarray(action, dtype=np.float32).reshape(-1)
        if a.shape != (self.spec.action_space.dim,):
            raise LeRobotFormatError(f"frame {t}: action has shape {a.shape}, expected ({self.spec.action_space.dim},)")
        ep.actions.append(a)
        if self.spec.state_names:
            s = np.asarray(observation.state, dtype=np.float32).reshape(-1)
            if s.shape != (len(self.spec.state_names),):
                raise LeRobotFormatError(f"frame {t}: state has shape {s.shape}, expected ({len(self.spec.state_names)},)")
            ep.states.append(s)

    def discard_episode(self) -> None:
        ep, self._episode = self._episode, None
        if ep is not None:
            for encoder in ep.encoders.values():
                try:
                    encoder.close()
                except Exception:  # noqa: BLE001 - an empty stream may not flush; it is dropped anyway
                    pass
            shutil.rmtree(self.root / STAGING / "current", ignore_errors=True)

    def end_episode(self) -> int:
        ep = self._episode
        if ep is None:
            raise RuntimeError("no episode in progress")
        if not ep.actions:
            raise LeRobotFormatError("an episode needs at least one frame")
        for encoder in ep.encoders.values():
            encoder.close()
        index = len(self._rows) + len(self._pending)
        first = (self._rows[-1]["dataset_to_index"] if self._rows else 0) + sum(p.frames for p in self._pending)
        folder = self.root / STAGING / f"episode-{index}"
        (self.root / STAGING / "current").rename(folder)
        table, episode_stats = self._frame_table(ep, index, first, self._task_index(ep.task))
        videos = {name: folder / f"{name}.mp4" for name in ep.encoders}
        self._pending.append(_Staged(index, ep.task, len(ep.actions), first, videos, table, episode_stats))
        self._episode = None
        if not self._deferred:
            self._commit()
        return index

    def write_episodes(self, episodes: Iterable[Episode], group: int = 50) -> list[int]:
        """Write whole episodes, committing them ``group`` at a time (the data and video files are
        rewritten once per group instead of once per episode); an interruption loses at most the
        group being written. Returns their indices."""
        indices = []
        self._deferred = True
        try:
            for episode in episodes:
                indices.append(self.write_episode(episode))
                if len(self._pending) >= group:
                    self._commit()
        finally:
            self._deferred = False
        self._commit()
        return indices

    def _commit(self) -> None:
        """Append the ended episodes to the dataset (see the module docstring)."""
        if not self._pending:
            return
        rows: list[dict[str, Any]] = [
            {"episode_index": p.index, "tasks": [p.task], "length": p.frames} for p in self._pending
        ]
        for cam in self.spec.cameras:
            spans = self._append_video(camera_key(cam.name), [(p.videos[cam.name], p.frames) for p in self._pending])
            for row, span in zip(rows, spans):
                row.update(span)
        location = self._append_data(pa.concat_tables([p.table for p in self._pending]), self._pending[0].first)
        for row, p in zip(rows, self._pending):
            row.update(location)
            row["dataset_from_index"], row["dataset_to_index"] = p.first, p.first + p.frames
            for key, values in p.stats.items():
                for stat, value in values.items():
                    row[f"stats/{key}/{stat}"] = value
        self._append_episode_rows(rows)  # the commit point
        self._pending = []
        for folder in (self.root / STAGING).glob("episode-*"):
            shutil.rmtree(folder, ignore_errors=True)
        if self._episode is None:
            shutil.rmtree(self.root / STAGING, ignore_errors=True)
        self._write_summary()

    # -- appending -----------------------------------------------------------------------
    def _task_index(self, task: str) -> int:
        if task not in self._tasks:
            self._tasks[task] = len(self._tasks)
            write_table(tasks_table({i: t for t, i in self._tasks.items()}), self.root / layout.TASKS)
        return self._tasks[task]

    def _last(self, column: str) -> Any:
        return self._rows[-1][column] if self._rows else None

    def _target(self, prefix: str, path_of: Any, limit_mb: float, incoming: int) -> tuple[int, int, bool]:
        """(chunk, file, append?) of the file the next episode goes to."""
        if not self._rows or f"{prefix}/chunk_index" not in self._rows[-1]:
            return 0, 0, False
        chunk, file = int(self._last(f"{prefix}/chunk_index")), int(self._last(f"{prefix}/file_index"))
        current = self.root / path_of(chunk, file)
        if current.exists() and current.stat().st_size + incoming < limit_mb * 1e6:
            return chunk, file, True
        chunk, file = layout.next_file(chunk, file, int(self.info["chunks_size"]))
        return chunk, file, False

    def _append_video(self, key: str, staged: list[tuple[Path, int]]) -> list[dict[str, Any]]:
        """Join the staged episodes' videos (``(path, frames)`` each) onto the camera's current file
        (or a new one); returns each episode's video columns."""

        def path_of(chunk: int, file: int) -> str:
            return self.info["video_path"].format(video_key=key, chunk_index=chunk, file_index=file)

        prefix = f"videos/{key}"
        incoming = sum(path.stat().st_size for path, _ in staged)
        chunk, file, append = self._target(prefix, path_of, self.info["video_files_size_in_mb"], incoming)
        if append and key in self._foreign_video:
            chunk, file = layout.next_file(chunk, file, int(self.info["chunks_size"]))
            append = False
        self._foreign_video.discard(key)
        target = self.root / path_of(chunk, file)
        parts = [(path, frames / float(self.spec.fps)) for path, frames in staged]
        if append:
            parts.insert(0, (target, float(self._last(f"{prefix}/to_timestamp"))))
        with atomic_path(target) as tmp:
            spans = video.join_videos(parts, tmp)
        return [
            {f"{prefix}/chunk_index": chunk, f"{prefix}/file_index": file,
             f"{prefix}/from_timestamp": start, f"{prefix}/to_timestamp": stop}
            for start, stop in spans[len(spans) - len(staged):]
        ]

    def _frame_table(self, ep: _Episode, index: int, first: int, task_index: int) -> tuple[pa.Table, dict[str, Any]]:
        n = len(ep.actions)
        actions = np.stack(ep.actions)
        columns: dict[str, Any] = {}
        episode_stats: dict[str, Any] = {}
        if self.spec.state_names:
            states = np.stack(ep.states)
            columns[STATE] = vector_column(states)
            episode_stats[STATE] = stats.vector_stats(states)
        columns[ACTION] = vector_column(actions)
        episode_stats[ACTION] = stats.vector_stats(actions)
        frame_index = np.arange(n, dtype=np.int64)
        plain = {
            "timestamp": (frame_index / float(self.spec.fps)).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(n, index, dtype=np.int64),
            "index": first + frame_index,
            "task_index": np.full(n, task_index, dtype=np.int64),
        }
        for name, values in plain.items():
            columns[name] = pa.array(values)
            episode_stats[name] = stats.vector_stats(values)
        for name, frames in ep.stat_frames.items():
            episode_stats[camera_key(name)] = stats.image_stats(np.stack(frames))
        return pa.table(columns), episode_stats

    def _append_data(self, table: pa.Table, first: int) -> dict[str, Any]:
        def path_of(chunk: int, file: int) -> str:
            return self.info["data_path"].format(chunk_index=chunk, file_index=file)

        incoming = table.nbytes // 4  # parquet compresses the numbers roughly this much
        chunk, file, append = self._target("data", path_of, self.info["data_files_size_in_mb"], incoming)
        target = self.root / path_of(chunk, file)
        if append:
            old = pq.read_table(target)
            old = old.filter(pc.less(old.column("index"), first))  # drop rows no episode references
            table = pa.concat_tables([old, table.cast(old.schema)])
        write_table(table, target)
        return {"data/chunk_index": chunk, "data/file_index": file}

    def _append_episode_rows(self, new: list[dict[str, Any]]) -> None:
        def path_of(chunk: int, file: int) -> str:
            return layout.EPISODES_PATH.format(chunk_index=chunk, file_index=file)

        size = len(json.dumps(new))
        chunk, file, append = self._target("meta/episodes", path_of, self.info["data_files_size_in_mb"], size)
        for row in new:
            row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = chunk, file
        here = (chunk, file)
        rows = [r for r in self._rows if (r["meta/episodes/chunk_index"], r["meta/episodes/file_index"]) == here]
        write_table(pa.Table.from_pylist([*rows, *new] if append else new), self.root / path_of(chunk, file))
        self._rows.extend(new)

    # -- summary files -------------------------------------------------------------------
    def _write_summary(self) -> None:
        """Rewrite info.json and stats.json from the episodes metadata."""
        info = self.info
        info["total_episodes"] = len(self._rows)
        info["total_frames"] = int(sum(r["length"] for r in self._rows))
        info["total_tasks"] = len(self._tasks)
        info["splits"] = {"train": f"0:{len(self._rows)}"} if self._rows else {}
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.root / layout.INFO, json.dumps(info, indent=4))
        if self._rows:
            per_episode = []
            for r in self._rows:
                ep_stats: dict[str, dict[str, Any]] = {}
                for column, value in r.items():
                    if column.startswith("stats/"):
                        key, stat = column[len("stats/"):].rsplit("/", 1)
                        ep_stats.setdefault(key, {})[stat] = value
                per_episode.append(ep_stats)
            atomic_write_text(self.root / layout.STATS, json.dumps(stats.aggregate(per_episode), indent=4))

    def close(self) -> None:
        self.discard_episode()
        self._commit()


