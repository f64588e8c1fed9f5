"""Numerical guards: a diverged training stops without a bundle, export refuses non-finite
weights, and a policy refuses non-finite logits, so NaN never turns into a robot command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest_bundles import TINY_RECIPE, tiny_bundle
from test_training import TINY_LLAMA, make_recipe

from vlakit.cli.main import main
from vlakit.errors import NonFiniteError
from vlakit.policy import Policy
from vlakit.runtime import run_episode

pytest.importorskip("vlakit_tabletop")


def test_a_diverging_training_stops_with_a_clear_error_and_no_bundle(tmp_path: Path, capsys) -> None:
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 3})
    run = tmp_path / "run"
    argv = ["train", str(recipe), "trainer.lr=.inf", "--no-eval", "--run-dir", str(run)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "training loss is nan at step 1" in err and "Traceback" not in err
    assert not (run / "bundle").exists()


def test_export_refuses_weights_a_last_diverging_step_left_non_finite(tmp_path: Path, capsys) -> None:
    """One step at an infinite learning rate: its loss is finite, the weights it leaves are not."""
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1})
    run = tmp_path / "run"
    assert main(["train", str(recipe), "trainer.lr=.inf", "--no-eval", "--run-dir", str(run)]) == 2
    assert "refusing to export" in capsys.readouterr().err
    assert not (run / "bundle").exists() and not list(run.glob(".bundle.*"))


def test_a_policy_refuses_non_finite_logits_and_the_loop_stops_the_robot(tmp_path: Path) -> None:
    from vlakit_tabletop.config import TabletopConfig
    from vlakit_tabletop.driver import TabletopDriver

    policy = Policy.load(tiny_bundle(tmp_path, TINY_RECIPE, "nan", nan_weights=True))
    for decoding in ("argmax", "expectation"):
        policy.decoding = decoding
        with pytest.raises(NonFiniteError, match="logits"):
            policy.act_batch([_observation()], ["pick up the red star"])

    class Watched(TabletopDriver):
        sent = 0
        stopped = 0

        def act(self, action: np.ndarray) -> None:
            self.sent += 1
            super().act(action)

        def safe_stop(self) -> None:
            self.stopped += 1
            super().safe_stop()

    robot = Watched(TabletopConfig(image_size=64))
    with robot:
        robot.reset_task(0, "seen")
        with pytest.raises(NonFiniteError):
            run_episode(robot, policy, "pick up the red star", 5, hz=0)
        assert robot.sent == 0 and robot.stopped == 1


def test_vlakit_run_on_a_nan_bundle_exits_2_with_one_message(tmp_path: Path, capsys) -> None:
    bundle = tiny_bundle(tmp_path, TINY_RECIPE, "nan", nan_weights=True)
    assert main(["run", str(bundle), "--robot", "tabletop", "--hz", "0", "--max-steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "NaN or infinity" in err and "Traceback" not in err


def test_a_finite_policy_still_acts(tmp_path: Path) -> None:
    policy = Policy.load(tiny_bundle(tmp_path, TINY_RECIPE, "ok"))
    assert np.isfinite(policy.act(_observation(), "pick up the red star")).all()


def _observation():
    from vlakit.types import Observation

    return Observation(images={"top": np.full((64, 64, 3), 100, np.uint8)})


def test_the_guards_name_what_was_non_finite() -> None:
    from vlakit.numerics import check_finite_loss, check_finite_weights

    with pytest.raises(NonFiniteError, match="inf at step 7"):
        check_finite_loss(torch.tensor(float("inf")), 7)
    check_finite_loss(torch.tensor(1.5), 7)
    weights = [("a", torch.ones(2)), ("b", torch.tensor([1.0, float("nan")])), ("ids", torch.arange(3))]
    with pytest.raises(NonFiniteError, match=r"1 weight tensor\(s\).*\(b\)"):
        check_finite_weights(weights, "x")
