"""A recording killed with SIGKILL loses at most the episode in progress and leaves a dataset
that reads (and that the next recording appends to)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import SPEC, episode  # noqa: E402
from vlakit_lerobot.config import LeRobotConfig  # noqa: E402
from vlakit_lerobot.dataset import LeRobotDataset  # noqa: E402
from vlakit_lerobot.writer import LeRobotWriter  # noqa: E402

HERE = Path(__file__).parent

#: The child: appends synthetic episodes (numbered on from what the dataset holds) and says so.
CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {here!r})
from synthetic import SPEC, episode
from vlakit import Observation
from vlakit_lerobot.writer import LeRobotWriter
root, stop_mid = Path(sys.argv[1]), sys.argv[2] == "mid"
writer = LeRobotWriter(root, SPEC)
k = json.loads((root / "meta/info.json").read_text())["total_episodes"]
while True:
    ep = episode(k)
    if stop_mid and k == 2:
        writer.begin_episode(ep.instruction)
        for t in range(3):
            images = {{c: f[t] for c, f in ep.images.items()}}
            writer.add_frame(Observation(images=images, state=ep.states[t]), ep.actions[t])
        print("mid", flush=True)
        time.sleep(60)
    writer.write_episode(ep)
    print("committed", k, flush=True)
    k += 1
"""


def start_child(root: Path, mode: str) -> subprocess.Popen:
    code = CHILD.format(here=str(HERE))
    return subprocess.Popen(
        [sys.executable, "-c", code, str(root), mode], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )


def read_back(root: Path, tmp_path: Path) -> LeRobotDataset:
    ds = LeRobotDataset(LeRobotConfig(root=str(root)))
    ds.prepare(tmp_path / "cache")
    return ds


def assert_prefix_of_the_source(ds: LeRobotDataset) -> None:
    """The dataset holds episodes 0..n-1 exactly as the child wrote them."""
    for k in range(ds.num_episodes):
        got, want = ds.episode(k), episode(k)
        assert got.instruction == want.instruction
        np.testing.assert_array_equal(got.actions, want.actions)
        np.testing.assert_array_equal(got.states, want.states)
        for cam in want.images:
            assert np.abs(got.images[cam].astype(np.int16) - want.images[cam]).mean() < 4.0


def test_kill_mid_episode_loses_only_that_episode(tmp_path):
    root = tmp_path / "rec"
    LeRobotWriter(root, SPEC).close()  # an empty dataset the child appends to
    child = start_child(root, "mid")
    try:
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            lines.append(line.strip())
            if line.strip() == "mid" or not line:
                break
        assert lines[-1] == "mid", lines
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    assert (root / ".staging").exists()  # the episode in progress was being written
    ds = read_back(root, tmp_path)
    assert ds.num_episodes == 2
    assert_prefix_of_the_source(ds)
    with LeRobotWriter(root, SPEC) as writer:  # recording resumes after the last whole episode
        assert writer.write_episode(episode(2)) == 2
    assert not (root / ".staging").exists()
    ds = read_back(root, tmp_path)
    assert ds.num_episodes == 3
    assert_prefix_of_the_source(ds)


def test_kills_at_random_moments_always_leave_a_readable_prefix(tmp_path):
    root = tmp_path / "rec"
    LeRobotWriter(root, SPEC).close()
    rng = random.Random(0)
    for _ in range(4):
        child = start_child(root, "loop")
        try:
            first = child.stdout.readline()  # wait until it really writes
            assert first.startswith("committed"), first
            time.sleep(rng.uniform(0.0, 0.4))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=10)
        ds = read_back(root, tmp_path)
        assert ds.num_episodes >= 1
        assert_prefix_of_the_source(ds)
