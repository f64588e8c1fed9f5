"""The ``lerobot`` dataset: a local LeRobot dataset (v3.0, v2.1, v2.0) as vlakit robot samples.

:meth:`LeRobotDataset.prepare` reads the metadata and the numeric columns (state, action,
timestamps) of the chosen episodes; camera frames stay on disk and are decoded per sample (one
seek and at most a few frames of an MP4, or one PNG from a parquet row group), so a dataset
larger than memory trains. Sample ``i`` is frame ``i`` of the chosen episodes, in order: its
cameras, its state, and the chunk ``[horizon, D]`` of actions from it, padded at the episode's
end with its last action (the padded steps are flagged ``action_is_pad`` where samples carry
named targets). Its text is the frame's task.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from PIL import Image
from vlakit_lerobot import layout
from vlakit_lerobot.config import LeRobotConfig
from vlakit_lerobot.errors import LeRobotFormatError
from vlakit_lerobot.stats import vector_stats
from vlakit_lerobot.tables import column_array
from vlakit_lerobot.video import FrameReader

from vlakit import ActionSpace, Dataset, Episode, Sample, TargetSpec

#: The target that flags the padded steps of an action chunk.
PAD_TARGET = "action_is_pad"


def short_name(key: str) -> str:
    """Camera name in samples: ``observation.images.front`` -> ``front``."""
    for prefix in ("observation.images.", "observation."):
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def describe_features(info: dict[str, Any]) -> str:
    """What a dataset has, for error messages: cameras and vector features with their shapes."""
    cams = layout.camera_keys(info)
    vectors = [
        f"{k} {list(ft.get('shape', []))}"
        for k, ft in info["features"].items()
        if k not in cams and k not in layout.FRAME_COLUMNS
    ]
    return f"cameras: {', '.join(cams) or 'none'}; vectors: {', '.join(vectors) or 'none'}"


class LeRobotDataset(Dataset):
    """Robot samples from a local LeRobot dataset (see the module docstring)."""

    def __init__(self, config: LeRobotConfig) -> None:
        self.config = config
        self.root = Path(config.root).expanduser()
        self.meta: layout.LeRobotMeta | None = None
        self.stats: dict[str, dict[str, Any]] | None = None
        self.camera_keys: list[str] = []
        self._reader = FrameReader()
        self._row_groups: OrderedDict[tuple[str, str, int], list[Any]] = OrderedDict()

    # -- preparing -----------------------------------------------------------------------
    def _resolve_cameras(self, info: dict[str, Any]) -> list[str]:
        cams = layout.camera_keys(info)
        if self.config.cameras is None:
            if not cams:
                raise LeRobotFormatError(f"{self.root}: the dataset has no cameras ({describe_features(info)})")
            return cams
        chosen = []
        for want in self.config.cameras:
            match = [k for k in cams if want in (k, short_name(k))]
            if not match:
                raise LeRobotFormatError(
                    f"{self.root}: the recipe asks for camera {want!r}, which the dataset does not have "
                    f"({describe_features(info)})"
                )
            chosen.append(match[0])
        return chosen

    def _check_vector(self, info: dict[str, Any], key: str | None, what: str) -> None:
        if key is None:
            return
        ft = info["features"].get(key)
        if ft is None or ft.get("dtype") in ("video", "image", "string") or len(ft.get("shape", [])) != 1:
            raise LeRobotFormatError(
                f"{self.root}: the recipe's {what} feature {key!r} is not a vector feature of the dataset "
                f"({describe_features(info)}); set `{what}:` to one of them"
            )

    def _open(self) -> None:
        """Read metadata and the numeric columns of the chosen episodes (once)."""
        if self.meta is not None:
            return
        if not self.root.is_dir():
            raise LeRobotFormatError(f"lerobot dataset {self.root} does not exist (root: a local directory)")
        meta = layout.load_meta(self.root)
        self.camera_keys = self._resolve_cameras(meta.info)
        self._check_vector(meta.info, self.config.action, "action")
        self._check_vector(meta.info, self.config.state, "state")
        by_index = {e.index: e for e in meta.episodes}
        chosen = self.config.select(sorted(by_index))
        if not chosen:
            raise LeRobotFormatError(f"{self.root}: no episodes selected (the dataset has {len(by_index)})")
        self.episodes = [by_index[i] for i in chosen]
        self.meta = meta
        self.fps = meta.fps
        try:
            self._load_columns()
        except BaseException:
            self.meta = None
            raise
        self._action_space = self._make_action_space()

    def prepare(self, cache_dir: Path) -> None:
        """Read metadata and the numeric columns of the chosen episodes; stats from the dataset's
        stats file, else computed once and cached under ``cache_dir``."""
        self._open()
        stored = self.meta.stats
        self.stats = stored if stored and self.config.action in stored else self._cached_stats(Path(cache_dir))

    def _load_columns(self) -> None:
        """Actions, states, timestamps and task indices of the chosen episodes, in order."""
        key_a, key_s = self.config.action, self.config.state
        image_keys = [k for k in self.camera_keys if self.meta.features[k]["dtype"] == "image"]
        per_file: dict[str, list[layout.EpisodeRecord]] = {}
        for e in self.episodes:
            per_file.setdefault(e.data_file, []).append(e)
        pieces: dict[int, dict[str, np.ndarray]] = {}
        for file, eps in per_file.items():
            path = self.root / file
            if not path.exists():
                raise LeRobotFormatError(f"{path} is missing (episodes {[e.index for e in eps]} live there)")
            columns = ["index", "episode_index", "timestamp", "task_index", key_a] + ([key_s] if key_s else [])
            table = pq.read_table(path, columns=columns)
            ep_col = column_array(table, "episode_index")
            index_col = column_array(table, "index")
            for e in eps:
                mine = ep_col == e.index
                if self.meta.version == layout.V30:  # rows past the last episode may linger; skip them
                    mine &= (index_col >= e.start) & (index_col < e.stop)
                rows = np.flatnonzero(mine)
                if len(rows) != e.length:
                    raise LeRobotFormatError(
                        f"{path}: episode {e.index} has {len(rows)} frames, its metadata says {e.length}"
                    )
                sub = table.take(rows)
                pieces[e.index] = {
                    "actions": column_array(sub, key_a).astype(np.float32),
                    "states": column_array(sub, key_s).astype(np.float32) if key_s else None,
                    "timestamps": column_array(sub, "timestamp").astype(np.float64),
                    "tasks": column_array(sub, "task_index").astype(np.int64),
                    "rows": rows,
                }
        order = [pieces[e.index] for e in self.episodes]
        lengths = np.array([len(p["actions"]) for p in order], dtype=np.int64)
        self._actions = np.concatenate([p["actions"] for p in order])
        self._states = np.concatenate([p["states"] for p in order]) if key_s else None
        self._timestamps = np.concatenate([p["timestamps"] for p in order])
        self._task_index = np.concatenate([p["tasks"] for p in order])
        self._file_rows = np.concatenate([p["rows"] for p in order]) if image_keys else None
        self._episode_of = np.repeat(np.arange(len(order)), lengths)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        self._starts = starts
        self._ends = starts[1:][self._episode_of]

    def _cached_stats(self, cache_dir: Path) -> dict[str, dict[str, Any]]:
        """Stats of the action and state, computed once and cached under ``cache_dir``."""
        stamp = json.dumps(
            [str(self.root.resolve()), self.meta.info.get("total_frames"), [e.index for e in self.episodes]]
        )
        path = cache_dir / f"lerobot-stats-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.json"
        if path.exists():
            return json.loads(path.read_text())
        found = {self.config.action: vector_stats(self._actions)}
        if self._states is not None:
            found[self.config.state] = vector_stats(self._states)
        from vlakit.io import atomic_write_text

        atomic_write_text(path, json.dumps(found))
        return found

    def _make_action_space(self) -> ActionSpace:
        info = self.meta.info
        key = self.config.action
        names = layout.feature_names(info, key)
        recorded = info["features"][key].get("vlakit") or {}
        units = self.config.action_units or recorded.get("units") or "unknown"
        if isinstance(units, str):
            units = [units] * len(names)
        if len(units) != len(names):
            raise LeRobotFormatError(f"action_units names {len(units)} units for {len(names)} action entries {names}")
        seen_lo, seen_hi = self._actions.min(0), self._actions.max(0)
        low = np.minimum(np.asarray(recorded.get("low", seen_lo), dtype=np.float64), seen_lo)
        high = np.maximum(np.asarray(recorded.get("high", seen_hi), dtype=np.float64), seen_hi)
        return ActionSpace(tuple(names), tuple(units), tuple(low.tolist()), tuple(high.tolist()))

    # -- reading -------------------------------------------------------------------------
    def _require(self) -> layout.LeRobotMeta:
        self._open()
        return self.meta

    @property
    def action_space(self) -> ActionSpace:
        """Names from the dataset, units recorded by vlakit (else ``action_units``), limits that
        hold every action of the chosen episodes."""
        self._open()
        return self._action_space

    @property
    def targets(self) -> dict[str, TargetSpec]:
        """``action_is_pad`` bool ``[horizon]``: which steps of the action chunk lie past the
        episode's end (repeats of its last action)."""
        return {PAD_TARGET: TargetSpec(shape=(self.horizon,), dtype="bool",
                                       description="steps of the action chunk past the episode's end")}

    def __len__(self) -> int:
        self._require()
        return int(len(self._actions))

    @property
    def num_episodes(self) -> int:
        self._require()
        return len(self.episodes)

    def _chunk_rows(self, index: np.ndarray) -> np.ndarray:
        steps = np.arange(self.horizon)
        return np.minimum(index[..., None] + steps, self._ends[index][..., None] - 1)

    def _resize(self, image: np.ndarray) -> np.ndarray:
        size = self.config.image_size
        if size is None or image.shape[:2] == (size, size):
            return image
        return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))

    def _parquet_image(self, key: str, file: str, row: int) -> np.ndarray:
        path = self.root / file
        pf = pq.ParquetFile(path)
        group, offset = 0, row
        while offset >= pf.metadata.row_group(group).num_rows:
            offset -= pf.metadata.row_group(group).num_rows
            group += 1
        cache_key = (file, key, group)
        values = self._row_groups.get(cache_key)
        if values is None:
            values = pf.read_row_group(group, columns=[key]).column(key).to_pylist()
            self._row_groups[cache_key] = values
            while len(self._row_groups) > 4:
                self._row_groups.popitem(last=False)
        item = values[offset]
        if isinstance(item, dict) and item.get("bytes") is None and item.get("path"):
            return np.asarray(Image.open(self.root / item["path"]).convert("RGB"))
        data = item["bytes"] if isinstance(item, dict) else item
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    def _image(self, key: str, i: int) -> np.ndarray:
        e = self.episodes[int(self._episode_of[i])]
        if self.meta.features[key]["dtype"] == "video":
            file, start = e.videos[key]
            frame = self._reader.frame(self.root / file, start + float(self._timestamps[i]))
        else:
            frame = self._parquet_image(key, e.data_file, int(self._file_rows[i]))
        return self._resize(frame)

    def __getitem__(self, index: int) -> Sample:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"lerobot index {index} out of range for {n} samples")
        i = int(index) % n
        rows = self._chunk_rows(np.asarray(i))
        return Sample(
            images={short_name(k): self._image(k, i) for k in self.camera_keys},
            text=self.meta.tasks.get(int(self._task_index[i]), ""),
            action=self._actions[rows],
            state=None if self._states is None else self._states[i],
            targets={PAD_TARGET: i + np.arange(self.horizon) >= self._ends[i]},
        )

    def actions(self) -> np.ndarray:
        """All action chunks ``[N, horizon, D]`` ``float32``."""
        self._require()
        return self._actions[self._chunk_rows(np.arange(len(self)))]

    def texts(self) -> Iterator[str]:
        """The task of every chosen episode's frames (each task once)."""
        self._require()
        for t in np.unique(self._task_index):
            yield self.meta.tasks.get(int(t), "")

    def episode(self, index: int) -> Episode:
        """Chosen episode ``index`` whole, frames decoded in one pass per camera."""
        self._require()
        e = self.episodes[index]
        lo, hi = int(self._starts[index]), int(self._starts[index + 1])
        images = {}
        for key in self.camera_keys:
            if self.meta.features[key]["dtype"] == "video":
                file, start = e.videos[key]
                frames = self._reader.frames(self.root / file, start + float(self._timestamps[lo]), hi - lo)
                images[short_name(key)] = np.stack([self._resize(f) for f in frames])
            else:
                images[short_name(key)] = np.stack([self._image(key, i) for i in range(lo, hi)])
        return Episode(
            images=images,
            actions=self._actions[lo:hi],
            instruction=self.meta.tasks.get(int(self._task_index[lo]), ""),
            states=None if self._states is None else self._states[lo:hi],
            metadata={"episode_index": e.index},
        )


