"""LeRobot with the other plugins: export the tabletop's registered dataset as LeRobot v3.0, train
a tiny recipe on `lerobot` + `vqa-json` (timm, hf, uniform-bins) and record `vlakit run` episodes
of the simulator (needs vlakit-lerobot, -tabletop, -vqa-json, -timm, -hf, -codecs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from vlakit_lerobot.config import LeRobotConfig
from vlakit_lerobot.dataset import LeRobotDataset

from vlakit.cli.main import main
from vlakit.plugins import get_registry
from vlakit.train.run import train

TINY_VIT = {"type": "timm", "model": "vit_tiny_patch16_224", "img_size": 32, "patch_size": 8,
            "embed_dim": 32, "depth": 1, "num_heads": 2}
TINY_LLAMA = {"type": "hf", "config": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}}


def read(root: Path, tmp_path: Path, **params) -> LeRobotDataset:
    ds = LeRobotDataset(LeRobotConfig(root=str(root), **params))
    ds.prepare(tmp_path / "cache")
    return ds


def export_demos(tmp_path: Path, episodes: int = 3) -> Path:
    out = tmp_path / "demos"
    args = ["dataset", "export", "tabletop-demos", str(out), "--episodes", str(episodes),
            "--set", f"episodes={episodes + 1}", "--set", "image_size=32", "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    return out


def vqa_file(tmp_path: Path) -> Path:
    (tmp_path / "vqa").mkdir()
    records = []
    for i, (colour, rgb) in enumerate([("red", (220, 20, 20)), ("green", (20, 200, 20)), ("blue", (20, 20, 220))]):
        Image.new("RGB", (32, 32), rgb).save(tmp_path / f"vqa/{colour}.png")
        records.append({"id": str(i), "image": f"{colour}.png", "conversations": [
            {"from": "human", "value": "<image>\nwhat colour is the table?"}, {"from": "gpt", "value": colour},
            {"from": "human", "value": "is it a table?"}, {"from": "gpt", "value": "yes"}]})
    path = tmp_path / "vqa/convs.json"
    path.write_text(json.dumps(records))
    return path


def test_export_writes_the_registered_dataset_as_lerobot(tmp_path):
    out = export_demos(tmp_path)
    demos = get_registry().build("dataset", {"type": "tabletop-demos", "episodes": 4, "image_size": 32})
    demos.prepare(tmp_path / "cache")
    ds = read(out, tmp_path)
    assert ds.num_episodes == 3
    assert ds.action_space.mismatch(demos.action_space) is None  # names and units survive the trip
    for k in range(3):
        got, want = ds.episode(k), demos.episode(k)
        assert got.instruction == want.instruction
        np.testing.assert_array_equal(got.actions, want.actions)
        np.testing.assert_array_equal(got.states, want.states)
        # 32x32 frames of small sharp shapes: 4:2:0 chroma halves the colour resolution at their edges
        assert np.abs(got.images["top"].astype(np.int16) - want.images["top"]).mean() < 12.0


def test_export_of_a_dataset_without_episodes_is_a_clear_error(tmp_path, capsys):
    args = ["dataset", "export", "tabletop-vqa", str(tmp_path / "out"), "--set", "samples=4"]
    assert main(args) == 2
    assert "keeps no whole robot episodes" in capsys.readouterr().err


def test_train_on_lerobot_and_vqa_json_then_record_a_run(tmp_path, capsys):
    demos = export_demos(tmp_path)
    recipe = {
        "name": "lerobot-tiny",
        "model": {"vision": TINY_VIT, "language": TINY_LLAMA, "codec": {"type": "uniform-bins", "bins": 32},
                  "projector": {"kind": "linear"}},
        "data": {"train": [{"type": "lerobot", "root": str(demos), "weight": 1.0},
                           {"type": "vqa-json", "path": str(vqa_file(tmp_path)), "camera": "top", "weight": 0.5}],
                 "cache_dir": str(tmp_path / "cache")},
        "trainer": {"max_steps": 3, "batch_size": 4, "lr": 1e-3, "accelerator": "cpu", "devices": 1, "log_every": 1},
        "eval": {"robot": {"type": "tabletop", "image_size": 32, "max_steps": 6}},
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = train(path, progress=False)
    assert result.bundle.exists()
    capsys.readouterr()

    rec = tmp_path / "rec"
    args = ["run", str(result.bundle), "--max-steps", "4", "--hz", "0", "--record", str(rec)]
    assert main(args) == 0
    assert main(args + ["--seed", "1"]) == 0  # a second run appends an episode
    printed = capsys.readouterr().out
    ds = read(rec, tmp_path)
    assert ds.num_episodes == 2 and ds.meta.info["robot_type"] == "tabletop"
    tasks = [line.split(": ", 1)[1] for line in printed.splitlines() if line.startswith("task (")]
    assert [ds.episode(k).instruction for k in range(2)] == tasks
    first = ds.episode(0)
    assert first.images["top"].shape[1:] == (32, 32, 3) and len(first) == 4
