"""The dataset commands end to end on LeRobot datasets: `dataset info` (summary, contact sheet) and
`dataset convert` (v2.1 to v3.0). With the other plugins: tests/test_lerobot_with_plugins.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import episode, write_v21  # noqa: E402
from vlakit_lerobot.config import LeRobotConfig  # noqa: E402
from vlakit_lerobot.dataset import LeRobotDataset  # noqa: E402

from vlakit.cli.main import main  # noqa: E402


def read(root: Path, tmp_path: Path, **params) -> LeRobotDataset:
    ds = LeRobotDataset(LeRobotConfig(root=str(root), **params))
    ds.prepare(tmp_path / "cache")
    return ds


def test_info_prints_the_summary_and_writes_a_contact_sheet(tmp_path, capsys):
    from vlakit_lerobot.writer import LeRobotWriter

    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic import SPEC

    with LeRobotWriter(tmp_path / "ds", SPEC) as writer:
        for k in range(3):
            writer.write_episode(episode(k))
    sheet = tmp_path / "sheet.png"
    assert main(["dataset", "info", str(tmp_path / "ds"), "--sheet", str(sheet), "--frames", "4"]) == 0
    out = capsys.readouterr().out
    assert "LeRobot v3.0" in out and "episodes: 3" in out and "fps: 15" in out
    assert "observation.images.wrist" in out and "pick up the cube" in out and "action: mean" in out
    image = Image.open(sheet)
    assert image.height >= 2 * 128  # one row per camera


def test_convert_in_place_keeps_the_original(tmp_path, capsys):
    source = [episode(k) for k in range(3)]
    write_v21(tmp_path / "ds", source)
    assert main(["dataset", "convert", str(tmp_path / "ds"), "--to", "v3.0"]) == 0
    assert (tmp_path / "ds_v2.1/meta/episodes.jsonl").exists()
    ds = read(tmp_path / "ds", tmp_path)
    assert ds.meta.version == "v3.0" and ds.num_episodes == 3
    for k in range(3):
        np.testing.assert_array_equal(ds.episode(k).actions, source[k].actions)
    assert main(["dataset", "convert", str(tmp_path / "ds")]) == 2
    assert "already a LeRobot v3.0" in capsys.readouterr().err


def test_info_on_a_directory_that_is_not_a_dataset(tmp_path, capsys):
    assert main(["dataset", "info", str(tmp_path)]) == 2
    assert "meta/info.json is missing" in capsys.readouterr().err
