"""LeRobot datasets written by vlakit read back identically; v2.1 reads and converts to v3.0."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import SPEC, TASKS, episode, write_v21  # noqa: E402
from vlakit_lerobot.config import LeRobotConfig  # noqa: E402
from vlakit_lerobot.convert import convert_to_v30  # noqa: E402
from vlakit_lerobot.dataset import LeRobotDataset  # noqa: E402
from vlakit_lerobot.errors import LeRobotFormatError  # noqa: E402
from vlakit_lerobot.writer import LeRobotWriter  # noqa: E402

from vlakit.testing import check_dataset  # noqa: E402

#: Mean absolute pixel error allowed after H.264 (crf 18, 4:2:0) on the smooth test images.
VIDEO_TOLERANCE = 4.0


def write_v30(root: Path, episodes, **kw) -> None:
    with LeRobotWriter(root, SPEC, **kw) as writer:
        for ep in episodes:
            writer.write_episode(ep)


def open_dataset(root: Path, tmp_path: Path, horizon: int = 1, **params) -> LeRobotDataset:
    ds = LeRobotDataset(LeRobotConfig(root=str(root), **params))
    ds.horizon = horizon
    ds.prepare(tmp_path / "cache")
    return ds


def assert_same_episode(got, want, exact_images: bool = False) -> None:
    assert got.instruction == want.instruction
    np.testing.assert_array_equal(got.actions, want.actions)
    np.testing.assert_array_equal(got.states, want.states)
    assert set(got.images) == set(want.images)
    for cam in want.images:
        assert got.images[cam].shape == want.images[cam].shape
        if exact_images:
            np.testing.assert_array_equal(got.images[cam], want.images[cam])
        else:
            err = np.abs(got.images[cam].astype(np.int16) - want.images[cam]).mean()
            assert err < VIDEO_TOLERANCE, f"{cam}: mean pixel error {err:.2f}"


def test_v30_written_by_vlakit_reads_back(tmp_path):
    source = [episode(k) for k in range(5)]
    write_v30(tmp_path / "ds", source)
    root = tmp_path / "ds"
    info = json.loads((root / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 5
    assert info["total_frames"] == sum(len(e) for e in source)
    # many episodes per file, two cameras
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*.mp4")) == [
        "videos/observation.images.front/chunk-000/file-000.mp4",
        "videos/observation.images.wrist/chunk-000/file-000.mp4",
    ]
    rows = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [r["episode_index"] for r in rows] == list(range(5))
    assert rows[1]["videos/observation.images.front/from_timestamp"] == pytest.approx(len(source[0]) / 15)
    assert rows[2]["dataset_from_index"] == len(source[0]) + len(source[1])
    tasks = pq.read_table(root / "meta/tasks.parquet").to_pylist()
    assert {t["task"] for t in tasks} == set(TASKS)

    ds = open_dataset(root, tmp_path)
    assert ds.num_episodes == 5 and len(ds) == info["total_frames"] and ds.fps == 15
    assert ds.action_space.names == SPEC.action_space.names and ds.action_space.units == SPEC.action_space.units
    for k in range(5):
        assert_same_episode(ds.episode(k), source[k])
    # frame-by-frame access matches too (seeks into the shared MP4)
    i = len(source[0]) + 3
    sample = ds[i]
    assert sample.text == source[1].instruction
    np.testing.assert_array_equal(sample.state, source[1].states[3])
    assert np.abs(sample.images["wrist"].astype(np.int16) - source[1].images["wrist"][3]).mean() < VIDEO_TOLERANCE


def test_reopening_appends_episodes(tmp_path):
    root = tmp_path / "ds"
    write_v30(root, [episode(0), episode(1)])
    write_v30(root, [episode(2)])
    ds = open_dataset(root, tmp_path)
    assert ds.num_episodes == 3
    assert_same_episode(ds.episode(2), episode(2))
    assert json.loads((root / "meta/info.json").read_text())["total_episodes"] == 3
    with pytest.raises(LeRobotFormatError, match="holds 15 frames per second, this recording 30"):
        LeRobotWriter(root, dataclasses.replace(SPEC, fps=30))
    wider = dataclasses.replace(SPEC, state_names=("a", "b", "c", "d"))
    with pytest.raises(LeRobotFormatError, match="cannot append to .*features"):
        LeRobotWriter(root, wider)


def test_files_roll_over_at_their_size_limit(tmp_path):
    root = tmp_path / "ds"
    source = [episode(k) for k in range(4)]
    write_v30(root, source, video_file_mb=0.004, data_file_mb=0.004)
    assert len(list((root / "videos/observation.images.front").rglob("*.mp4"))) > 1
    ds = open_dataset(root, tmp_path)
    for k in range(4):
        assert_same_episode(ds.episode(k), source[k])


def test_action_chunks_are_padded_at_episode_ends(tmp_path):
    source = [episode(0, length=4), episode(1, length=6)]
    write_v30(tmp_path / "ds", source)
    ds = open_dataset(tmp_path / "ds", tmp_path, horizon=3)
    chunk = ds[2].action  # frames 2, 3 of episode 0, then the last one again
    np.testing.assert_array_equal(chunk, source[0].actions[[2, 3, 3]])
    np.testing.assert_array_equal(ds[4].action, source[1].actions[[0, 1, 2]])
    assert ds.actions().shape == (10, 3, 4)


def test_episode_selection_ranges_and_fractions(tmp_path):
    source = [episode(k, length=5) for k in range(10)]
    write_v30(tmp_path / "ds", source)
    picked = open_dataset(tmp_path / "ds", tmp_path, episodes=["2:4", 7])
    assert [e.index for e in picked.episodes] == [2, 3, 7]
    train = open_dataset(tmp_path / "ds", tmp_path, fraction=(0.0, 0.8))
    val = open_dataset(tmp_path / "ds", tmp_path, fraction=(0.8, 1.0))
    assert [e.index for e in train.episodes] == list(range(8))
    assert [e.index for e in val.episodes] == [8, 9]
    assert_same_episode(val.episode(1), source[9])
    with pytest.raises(LeRobotFormatError, match="no episode 12"):
        open_dataset(tmp_path / "ds", tmp_path, episodes=[12])


def test_mismatched_features_name_what_the_dataset_has(tmp_path):
    write_v30(tmp_path / "ds", [episode(0)])
    with pytest.raises(LeRobotFormatError) as err:
        open_dataset(tmp_path / "ds", tmp_path, cameras=["top"])
    message = str(err.value)
    assert "'top'" in message and "observation.images.front" in message and "observation.images.wrist" in message
    assert "observation.state [3]" in message and "action [4]" in message
    with pytest.raises(LeRobotFormatError, match="state feature 'observation.velocity'.*action \\[4\\]"):
        open_dataset(tmp_path / "ds", tmp_path, state="observation.velocity")


def test_image_size_and_camera_choice(tmp_path):
    write_v30(tmp_path / "ds", [episode(0)])
    ds = open_dataset(tmp_path / "ds", tmp_path, cameras=["wrist"], image_size=16, state=None)
    sample = ds[0]
    assert list(sample.images) == ["wrist"] and sample.images["wrist"].shape == (16, 16, 3)
    assert sample.state is None


def test_stats_are_computed_once_and_cached_when_missing(tmp_path):
    source = [episode(k) for k in range(3)]
    write_v30(tmp_path / "ds", source)
    (tmp_path / "ds/meta/stats.json").unlink()
    ds = open_dataset(tmp_path / "ds", tmp_path)
    actions = np.concatenate([e.actions for e in source])
    np.testing.assert_allclose(ds.stats["action"]["mean"], actions.mean(0), rtol=1e-5)
    cached = list((tmp_path / "cache").glob("lerobot-stats-*.json"))
    assert len(cached) == 1
    again = open_dataset(tmp_path / "ds", tmp_path)
    assert again.stats == json.loads(cached[0].read_text())


def test_v21_reads_and_converts_to_v30_frame_for_frame(tmp_path):
    source = [episode(k) for k in range(4)]
    write_v21(tmp_path / "v21", source)
    old = open_dataset(tmp_path / "v21", tmp_path)
    assert old.meta.version == "v2.1" and old.num_episodes == 4
    assert old.action_space.names == SPEC.action_space.names  # names given as {"motors": [...]}
    for k in range(4):
        assert_same_episode(old.episode(k), source[k])
    assert old.stats is not None and "action" in old.stats  # aggregated from episodes_stats.jsonl

    convert_to_v30(tmp_path / "v21", tmp_path / "v30")
    new = open_dataset(tmp_path / "v30", tmp_path)
    assert new.meta.version == "v3.0" and len(new) == len(old)
    for k in range(4):  # not re-encoded: every frame is the same as before
        assert_same_episode(new.episode(k), old.episode(k), exact_images=True)
    for i in range(len(old)):
        a, b = old[i], new[i]
        assert a.text == b.text
        np.testing.assert_array_equal(a.action, b.action)
        np.testing.assert_array_equal(a.images["front"], b.images["front"])
    info = json.loads((tmp_path / "v30/meta/info.json").read_text())
    assert "total_chunks" not in info and info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    with pytest.raises(LeRobotFormatError, match="already a LeRobot v3.0"):
        convert_to_v30(tmp_path / "v30", tmp_path / "again")


def test_not_a_dataset_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LeRobotFormatError, match="meta/info.json is missing"):
        open_dataset(tmp_path / "empty", tmp_path)
    with pytest.raises(LeRobotFormatError, match="does not exist"):
        open_dataset(tmp_path / "nowhere", tmp_path)


def test_conformance(tmp_path):
    write_v30(tmp_path / "ds", [episode(k) for k in range(3)])
    check_dataset(LeRobotDataset(LeRobotConfig(root=str(tmp_path / "ds"))), tmp_path / "cache", horizon=4)
    write_v21(tmp_path / "v21", [episode(k) for k in range(2)])
    check_dataset(LeRobotDataset(LeRobotConfig(root=str(tmp_path / "v21"))), tmp_path / "cache", horizon=2)


def test_group_commits_write_the_same_dataset(tmp_path):
    source = [episode(k) for k in range(7)]
    with LeRobotWriter(tmp_path / "grouped", SPEC) as writer:
        assert writer.write_episodes(iter(source[:5]), group=2) == [0, 1, 2, 3, 4]
        writer.write_episode(source[5])  # single episodes still commit one by one
        assert writer.write_episodes(iter(source[6:]), group=2) == [6]
    write_v30(tmp_path / "single", source)
    grouped, single = open_dataset(tmp_path / "grouped", tmp_path), open_dataset(tmp_path / "single", tmp_path)
    assert grouped.num_episodes == single.num_episodes == 7
    for k in range(7):
        # the same frames encoded twice: equal within video tolerance (in CI's newest-releases job
        # two encodes of the same frames differed by up to 6 levels in ~5% of values)
        assert_same_episode(grouped.episode(k), single.episode(k))
    a = pq.read_table(tmp_path / "grouped/meta/episodes/chunk-000/file-000.parquet").drop(["meta/episodes/file_index"])
    b = pq.read_table(tmp_path / "single/meta/episodes/chunk-000/file-000.parquet").drop(["meta/episodes/file_index"])
    assert a.to_pylist() == b.to_pylist()


def test_images_stored_in_parquet_read_exactly_and_convert(tmp_path):
    source = [episode(k) for k in range(3)]
    write_v21(tmp_path / "v21", source, images_in_parquet=True)
    ds = open_dataset(tmp_path / "v21", tmp_path, horizon=2)
    for k in range(3):
        assert_same_episode(ds.episode(k), source[k], exact_images=True)  # PNG is lossless
    np.testing.assert_array_equal(ds[len(source[0]) + 1].images["wrist"], source[1].images["wrist"][1])
    convert_to_v30(tmp_path / "v21", tmp_path / "v30")
    new = open_dataset(tmp_path / "v30", tmp_path)
    for k in range(3):
        assert_same_episode(new.episode(k), source[k], exact_images=True)
