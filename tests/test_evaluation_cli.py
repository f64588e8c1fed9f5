"""``vlakit eval`` and ``vlakit run`` end to end, on a tiny untrained bundle and the tabletop simulator.

The bundle is exported from a freshly built (random) tiny VLA, so its success rate means nothing;
these tests check the commands, the files they write and their errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest_bundles import TINY_EVAL, TINY_RECIPE, export_tiny_bundle
from PIL import Image

import vlakit.cli.commands.evaluate  # noqa: F401  (registers `vlakit eval`)
import vlakit.cli.commands.run  # noqa: F401  (registers `vlakit run`)
from vlakit.cli.main import main

pytest.importorskip("vlakit_tabletop")

RECIPE, EVAL = TINY_RECIPE, TINY_EVAL
_export = export_tiny_bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny bundles: one whose recipe has an eval block, one without."""
    tmp = tmp_path_factory.mktemp("bundles")
    return {"eval": _export(tmp, RECIPE + EVAL, "with-eval"), "plain": _export(tmp, RECIPE, "plain")}


def test_eval_uses_the_recipes_eval_block(bundles: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert main(["eval", str(bundles["eval"]), "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "95% CI" in text and f"report: {out / 'report.md'}" in text
    data = json.loads((out / "results.json").read_text())
    assert data["settings"]["splits"] == ["seen"] and data["settings"]["episodes"] == 2
    assert data["settings"]["decoding"] == "argmax"  # the recipe's model.decoding (default)
    assert len(data["episodes"]) == 2 and all(e["steps"] <= 4 for e in data["episodes"])
    assert data["bundle"] == str(bundles["eval"])
    with Image.open(out / "success_rate.png") as png:
        assert png.format == "PNG"
    (gif,) = (out / "gifs").glob("*.gif")
    with Image.open(gif) as im:
        assert im.format == "GIF"
    md = (out / "report.md").read_text()
    assert str(bundles["eval"]) in md and "success_rate.png" in md and gif.name in md


def test_eval_options_replace_the_block(bundles: dict[str, Path], tmp_path: Path) -> None:
    robot = tmp_path / "robot.yaml"
    robot.write_text("type: tabletop\nmax_steps: 2\nimage_size: 48\n")
    out = tmp_path / "report"
    argv = ["eval", str(bundles["plain"]), "--robot", str(robot), "--split", "all", "--episodes", "1"]
    assert main([*argv, "--gifs", "0", "--seed", "3", "--envs", "2", "--out", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    assert data["settings"]["robot"] == {"type": "tabletop", "max_steps": 2, "image_size": 48}
    assert len(data["settings"]["splits"]) >= 2 and data["settings"]["num_envs"] == 2
    assert {e["seed"] for e in data["episodes"]} == {3} and not (out / "gifs").exists()


def test_eval_without_eval_block_asks_for_robot(bundles: dict[str, Path], tmp_path: Path, capsys) -> None:
    assert main(["eval", str(bundles["plain"]), "--out", str(tmp_path / "r")]) == 2
    assert "--robot" in capsys.readouterr().err


def test_eval_user_errors_exit_2(bundles: dict[str, Path], tmp_path: Path, capsys) -> None:
    assert main(["eval", str(bundles["eval"]), "--robot", "tabletopp", "--out", str(tmp_path / "r")]) == 2
    assert "did you mean 'tabletop'" in capsys.readouterr().err
    assert main(["eval", str(bundles["eval"]), "--split", "sometimes", "--out", str(tmp_path / "r")]) == 2
    assert "split" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "nothing"), "--robot", "tabletop"]) == 2
    assert "bundle not found" in capsys.readouterr().err


def test_run_one_episode_with_gif(bundles: dict[str, Path], tmp_path: Path, capsys) -> None:
    gif = tmp_path / "episode.gif"
    argv = ["run", str(bundles["eval"]), "--hz", "0", "--max-steps", "3", "--seed", "5", "--gif", str(gif)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "task (seen" in out and "success:" in out
    assert re.search(r"rate [\d.]+ Hz; loop time p50 [\d.]+ ms, p99 [\d.]+ ms; overruns \d+", out)
    steps = re.search(r"(\d+) steps in", out)
    assert steps is not None and 1 <= int(steps.group(1)) <= 3  # an untrained policy may terminate early
    with Image.open(gif) as im:
        assert im.format == "GIF"


def test_run_needs_a_robot_and_an_instruction(bundles: dict[str, Path], capsys) -> None:
    assert main(["run", str(bundles["plain"]), "--instruction", "pick up the red star"]) == 2
    assert "--robot" in capsys.readouterr().err
    argv = ["run", str(bundles["plain"]), "--robot", "tabletop", "-i", "pick up the red star", "--hz", "0"]
    assert main([*argv, "--max-steps", "2"]) == 0
    assert "success:" not in capsys.readouterr().out  # own instruction: the task's judge does not apply


def test_expectation_decoding_weighs_each_bin_by_its_probability(bundles: dict[str, Path], tmp_path: Path) -> None:
    """decoding "expectation": the first action value is sum_k p_k * value_k over the bins, p the
    softmax of the action tokens' logits after the prefix; argmax takes the most likely bin."""
    from vlakit_tabletop.driver import TabletopDriver

    from vlakit.policy import Policy

    robot = TabletopDriver()
    robot.connect()
    task = robot.reset_task(7, "seen")
    observation = robot.observe()
    argmax = Policy.load(bundles["eval"])
    expectation = Policy.load(bundles["eval"], decoding="expectation")
    assert (argmax.decoding, expectation.decoding) == ("argmax", "expectation")
    vla = expectation.vla
    with torch.no_grad():
        embeds, mask = expectation.prefix([observation], [task.instruction])
        logits = vla.language(inputs_embeds=embeds, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0)).logits
    probs = torch.softmax(logits[0, -1, vla.mapping.token_ids()].float(), -1).numpy()  # [16 bins]
    values = vla.codec.decode(np.tile(np.arange(16)[:, None], (1, 4)))[:, 0, 0]  # what each bin of dx decodes to
    got, most_likely = expectation.act(observation, task.instruction), argmax.act(observation, task.instruction)
    assert got[0] == pytest.approx(float(probs @ values), abs=1e-6)
    assert most_likely[0] == pytest.approx(float(values[probs.argmax()]))
    out = tmp_path / "report"
    assert main(["eval", str(bundles["eval"]), "--out", str(out), "--no-progress", "--decoding", "expectation"]) == 0
    assert json.loads((out / "results.json").read_text())["settings"]["decoding"] == "expectation"
    argv = ["run", str(bundles["eval"]), "--hz", "0", "--max-steps", "2", "--decoding", "expectation"]
    assert main(argv) == 0


def test_expectation_decoding_needs_a_bin_codec(tmp_path: Path, capsys) -> None:
    from vlakit import RecipeError
    from vlakit.model import build_codec
    from vlakit.model.compose import check_decoding
    from vlakit.plugins import get_registry
    from vlakit.recipes import load_recipe

    path = tmp_path / "fast.yaml"
    path.write_text(RECIPE.replace("{type: uniform-bins, bins: 16}", "{type: fast}\n  decoding: expectation"))
    recipe = load_recipe(path)
    with pytest.raises(RecipeError, match="decoding: expectation needs a codec"):
        build_codec(recipe.model, get_registry())
    with pytest.raises(RecipeError, match="FastCodec cannot decode by expectation"):
        check_decoding(get_registry().build("codec", {"type": "fast"}), "expectation")
