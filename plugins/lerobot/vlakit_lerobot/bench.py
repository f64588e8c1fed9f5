"""``vlakit bench lerobot``: how fast a `lerobot` dataset feeds training, and its memory as it grows.

Generates a LeRobot v3.0 dataset (a 64x64 and a 224x224 camera as MP4, a 6-D state and action),
then times samples delivered through vlakit's training stream (the weighted mixture in a torch
DataLoader, video decoding included) for each number of loader workers, and measures the resident
memory of a process that opens the first 25%, 50% and 100% of the episodes and reads samples.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vlakit import ActionSpace, CameraSpec, Episode
from vlakit.interfaces import RecordingSpec

CAMERAS = (CameraSpec("small", 64, 64), CameraSpec("large", 224, 224))
SPACE = ActionSpace(tuple(f"joint{i}" for i in range(6)), ("deg",) * 6, (-180.0,) * 6, (180.0,) * 6)
BATCH = 32
HORIZON = 8


def synthetic_episode(k: int, frames: int) -> Episode:
    """A cheap, moving synthetic episode ``k`` of ``frames`` steps."""
    t = np.arange(frames, dtype=np.float32)[:, None]
    actions = (90 * np.sin(t / 10 + np.arange(6) + k)).astype(np.float32)
    images = {}
    for cam in CAMERAS:
        y = np.linspace(0, 255, cam.height, dtype=np.float32)[None, :, None]
        x = np.linspace(0, 255, cam.width, dtype=np.float32)[None, None, :]
        shift = (t[:, :, None] * 4 + k * 16)
        base = (x + y + shift) % 256
        images[cam.name] = np.stack([base, (base * 2) % 256, 255 - base], -1).astype(np.uint8)
    return Episode(images=images, actions=actions, states=actions * 0.9, instruction=f"task {k % 10}")


def generate(root: Path, episodes: int, frames: int) -> None:
    """Write the benchmark dataset at ``root``."""
    from vlakit_lerobot.writer import LeRobotWriter

    spec = RecordingSpec(fps=30, action_space=SPACE, cameras=CAMERAS, state_names=SPACE.names)
    with LeRobotWriter(root, spec) as writer:
        writer.write_episodes(synthetic_episode(k, frames) for k in range(episodes))


def samples_per_second(root: Path, workers: int, samples: int) -> float:
    """Samples per second the training stream delivers with ``workers`` loader workers."""
    from torch.utils.data import DataLoader
    from vlakit_lerobot.config import LeRobotConfig
    from vlakit_lerobot.dataset import LeRobotDataset

    from vlakit.data.mixture import WeightedMixture, seed_worker

    ds = LeRobotDataset(LeRobotConfig(root=str(root)))
    ds.horizon = HORIZON
    ds.prepare(root.parent / "cache")
    stream = WeightedMixture([ds], [1.0], batch_size=BATCH)
    loader = DataLoader(stream, batch_size=BATCH, num_workers=workers, collate_fn=list, worker_init_fn=seed_worker)
    batches = iter(loader)
    next(batches)  # start the workers, open the files
    n, start = 0, time.perf_counter()
    while n < samples:
        n += len(next(batches))
    return n / (time.perf_counter() - start)


MEMORY_CHILD = """
import json, resource, sys
import numpy as np
from vlakit_lerobot.config import LeRobotConfig
from vlakit_lerobot.dataset import LeRobotDataset
root, stop, reads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ds = LeRobotDataset(LeRobotConfig(root=root, episodes=[f"0:{stop}"]))
ds.prepare(__import__("pathlib").Path(root).parent / "cache")
for i in np.random.default_rng(0).integers(0, len(ds), reads):
    ds[int(i)]
rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]) // 1024
print(json.dumps({"frames": len(ds), "rss_mb": rss}))
"""


def memory_mb(root: Path, episodes: int, reads: int = 256) -> dict[str, int]:
    """Resident memory (MiB) of a fresh process that opens ``episodes`` episodes and reads samples."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(root), str(episodes), str(reads)],
        capture_output=True, text=True, timeout=600, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(episodes: int, frames: int, samples: int, workers: list[int], where: Path | None) -> None:
    """Generate, time and print (see the module docstring)."""
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        root = Path(tmp) / "bench"
        t0 = time.perf_counter()
        generate(root, episodes, frames)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6
        print(f"dataset: {episodes} episodes x {frames} frames, cameras 64x64 + 224x224 (H.264), "
              f"{size:.1f} MB, written in {time.perf_counter() - t0:.1f} s")
        for w in workers:
            rate = samples_per_second(root, w, samples)
            print(f"workers {w}: {rate:.0f} samples/s (batch {BATCH}, horizon {HORIZON}, both cameras decoded)")
        for part in sorted({max(1, episodes // 4), max(1, episodes // 2), episodes}):
            m = memory_mb(root, part)
            print(f"memory: {part} episodes ({m['frames']} frames) -> {m['rss_mb']} MiB resident")
