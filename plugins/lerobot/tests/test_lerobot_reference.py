"""A dataset written by LeRobot itself (fixtures/README.md) reads, conforms, and takes new episodes."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from vlakit_lerobot.config import LeRobotConfig  # noqa: E402
from vlakit_lerobot.dataset import LeRobotDataset  # noqa: E402
from vlakit_lerobot.writer import LeRobotWriter  # noqa: E402

from vlakit import ActionSpace, CameraSpec, Episode  # noqa: E402
from vlakit.interfaces import RecordingSpec  # noqa: E402
from vlakit.testing import check_dataset  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "lerobot-0.4.4-v3.0"


def read(root: Path, tmp_path: Path) -> LeRobotDataset:
    ds = LeRobotDataset(LeRobotConfig(root=str(root)))
    ds.prepare(tmp_path / "cache")
    return ds


def expected(e: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    t = np.arange(7 + e, dtype=np.float32)
    actions = np.stack([10 * e + t, -t], -1)
    states = np.stack([np.full_like(t, e), t, np.full_like(t, 0.5)], -1)
    red = 30 * e + 10 * t
    return actions, states, red, f"task {e % 2}"


def test_a_dataset_lerobot_wrote_reads_back(tmp_path):
    ds = read(FIXTURE, tmp_path)
    assert ds.num_episodes == 3 and len(ds) == 24 and ds.fps == 10
    assert ds.action_space.names == ("x", "y")
    for e in range(3):
        actions, states, red, task = expected(e)
        got = ds.episode(e)
        assert got.instruction == task
        np.testing.assert_array_equal(got.actions, actions)
        np.testing.assert_array_equal(got.states, states)
        centre = got.images["front"][:, 24:40, 24:40].astype(np.float32).mean((1, 2))  # AV1, yuv420p
        assert np.abs(centre[:, 0] - red).max() < 4 and np.abs(centre[:, 1] - 100).max() < 4
    check_dataset(LeRobotDataset(LeRobotConfig(root=str(FIXTURE))), tmp_path / "cache", horizon=3)


def test_vlakit_appends_to_a_dataset_lerobot_wrote(tmp_path):
    root = tmp_path / "theirs"
    shutil.copytree(FIXTURE, root)
    space = ActionSpace(("x", "y"), ("unknown", "unknown"), (-50.0, -50.0), (50.0, 50.0))
    spec = RecordingSpec(fps=10, action_space=space, cameras=(CameraSpec("front", 64, 64),), state_names=("a", "b", "c"))
    frames = np.zeros((5, 64, 64, 3), np.uint8)
    frames[..., 2] = 200
    new = Episode(images={"front": frames}, actions=np.ones((5, 2), np.float32),
                  states=np.zeros((5, 3), np.float32), instruction="task 1")
    with LeRobotWriter(root, spec) as writer:
        assert writer.write_episode(new) == 3
    # AV1 packets are never joined to H.264 ones: the new episode starts a new video file
    assert (root / "videos/observation.images.front/chunk-000/file-001.mp4").exists()
    ds = read(root, tmp_path)
    assert ds.num_episodes == 4 and ds.meta.tasks == {0: "task 0", 1: "task 1"}
    np.testing.assert_array_equal(ds.episode(0).actions, expected(0)[0])
    last = ds.episode(3)
    np.testing.assert_array_equal(last.actions, new.actions)
    assert np.abs(last.images["front"][..., 2].astype(np.float32) - 200).mean() < 4
