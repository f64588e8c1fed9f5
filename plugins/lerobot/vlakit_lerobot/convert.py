"""Converting a LeRobot v2.0/v2.1 dataset to v3.0 in one step, without re-encoding video.

Per-episode parquet files are concatenated into ``data/chunk-XXX/file-XXX.parquet`` (frame
``index`` renumbered to run 0..N-1 across the dataset), per-episode MP4s are joined packet by
packet into ``videos/<key>/chunk-XXX/file-XXX.mp4``, the jsonl metadata becomes
``meta/tasks.parquet`` and ``meta/episodes/chunk-000/file-000.parquet`` (with each episode's
offsets and, from v2.1's episodes_stats.jsonl, its stats), and ``meta/stats.json`` is written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from vlakit_lerobot import layout, video
from vlakit_lerobot.errors import LeRobotFormatError
from vlakit_lerobot.stats import aggregate
from vlakit_lerobot.tables import tasks_table, write_table

from vlakit.io import atomic_path, atomic_write_text


def _groups(sizes: list[int], limit_mb: float) -> list[list[int]]:
    """Split item positions into consecutive groups whose sizes stay under ``limit_mb``."""
    groups: list[list[int]] = [[]]
    total = 0
    for i, size in enumerate(sizes):
        if groups[-1] and total + size >= limit_mb * 1e6:
            groups.append([])
            total = 0
        groups[-1].append(i)
        total += size
    return groups


def _flat_stats(stats: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {f"stats/{key}/{name}": value for key, values in stats.items() for name, value in values.items()}


def convert_to_v30(
    src: Path,
    out: Path,
    data_file_mb: float = layout.DEFAULT_DATA_FILE_MB,
    video_file_mb: float = layout.DEFAULT_VIDEO_FILE_MB,
) -> Path:
    """Write the v2.0/v2.1 dataset at ``src`` as a v3.0 dataset at ``out`` (which must not exist)."""
    src, out = Path(src), Path(out)
    meta = layout.load_meta(src)
    if meta.version == layout.V30:
        raise LeRobotFormatError(f"{src} is already a LeRobot v3.0 dataset")
    if out.exists():
        raise LeRobotFormatError(f"{out} exists; convert into a new directory")
    chunks_size = int(meta.info.get("chunks_size", layout.DEFAULT_CHUNKS_SIZE))
    episodes = meta.episodes
    rows: list[dict[str, Any]] = [
        {"episode_index": e.index, "tasks": list(e.tasks), "length": e.length} for e in episodes
    ]
    work = out.parent / f".{out.name}.converting"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    # frames: concatenate per-episode parquet files, renumbering the global index
    chunk, file, first = 0, 0, 0
    for group in _groups([(src / e.data_file).stat().st_size for e in episodes], data_file_mb):
        tables = []
        for i in group:
            table = pq.read_table(src / episodes[i].data_file)
            n = table.num_rows
            if n != episodes[i].length:
                raise LeRobotFormatError(f"{src / episodes[i].data_file}: {n} frames, episodes.jsonl says {episodes[i].length}")
            position = table.column_names.index("index")
            table = table.set_column(position, "index", pa.array(np.arange(first, first + n, dtype=np.int64)))
            tables.append(table)
            rows[i].update(
                {"data/chunk_index": chunk, "data/file_index": file,
                 "dataset_from_index": first, "dataset_to_index": first + n}
            )
            first += n
        path = work / layout.DATA_PATH.format(chunk_index=chunk, file_index=file)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.concat_tables(tables), path)
        chunk, file = layout.next_file(chunk, file, chunks_size)

    # camera streams: join per-episode MP4s packet by packet
    for key in (k for k in meta.cameras if meta.features[k]["dtype"] == "video"):
        chunk, file = 0, 0
        files = [src / e.videos[key][0] for e in episodes]
        for group in _groups([f.stat().st_size for f in files], video_file_mb):
            path = work / layout.VIDEO_PATH.format(video_key=key, chunk_index=chunk, file_index=file)
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                spans = video.join_videos([(files[i], episodes[i].length / meta.fps) for i in group], tmp)
            for i, (start, stop) in zip(group, spans):
                rows[i].update(
                    {f"videos/{key}/chunk_index": chunk, f"videos/{key}/file_index": file,
                     f"videos/{key}/from_timestamp": start, f"videos/{key}/to_timestamp": stop}
                )
            chunk, file = layout.next_file(chunk, file, chunks_size)

    # metadata
    per_episode: list[dict[str, Any]] = []
    if (src / layout.LEGACY_EPISODES_STATS).exists():
        found = {r["episode_index"]: r["stats"] for r in layout.read_jsonl(src / layout.LEGACY_EPISODES_STATS)}
        per_episode = [found[e.index] for e in episodes if e.index in found]
        if len(per_episode) == len(episodes):
            for row, e in zip(rows, episodes):
                row.update(_flat_stats(found[e.index]))
    for row in rows:
        row["meta/episodes/chunk_index"], row["meta/episodes/file_index"] = 0, 0
    write_table(pa.Table.from_pylist(rows), work / layout.EPISODES_PATH.format(chunk_index=0, file_index=0))
    write_table(tasks_table(meta.tasks), work / layout.TASKS)
    stats = meta.stats if meta.stats is not None else (aggregate(per_episode) if per_episode else None)
    if stats is not None:
        atomic_write_text(work / layout.STATS, json.dumps(stats, indent=4))
    info = {k: v for k, v in meta.info.items() if k not in ("total_chunks", "total_videos")}
    info.update(
        codebase_version=layout.V30,
        data_files_size_in_mb=data_file_mb,
        video_files_size_in_mb=video_file_mb,
        data_path=layout.DATA_PATH,
        video_path=layout.VIDEO_PATH if meta.info.get("video_path") else None,
        fps=int(meta.info["fps"]) if float(meta.info["fps"]).is_integer() else meta.info["fps"],
        total_episodes=len(episodes),
        total_frames=first,
        total_tasks=len(meta.tasks),
    )
    info["features"] = {
        k: ft if ft.get("dtype") == "video" else {**ft, "fps": info["fps"]} for k, ft in meta.info["features"].items()
    }
    atomic_write_text(work / layout.INFO, json.dumps(info, indent=4))
    work.rename(out)
    return out


def convert_in_place(root: Path) -> Path:
    """Convert ``root`` to v3.0 where it is; the original moves to ``<root>_<old version>``."""
    root = Path(root)
    version = layout.read_info(root)["codebase_version"]
    backup = root.parent / f"{root.name}_{version}"
    if backup.exists():
        raise LeRobotFormatError(f"{backup} exists (an earlier conversion's original?); move it away first")
    converted = convert_to_v30(root, root.parent / f".{root.name}.v30")
    root.rename(backup)
    converted.rename(root)
    return backup
