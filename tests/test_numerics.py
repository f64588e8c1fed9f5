"""Numerical guards: a diverged training stops without a bundle, export refuses non-finite
weights, and a policy refuses non-finite logits, so NaN never turns into a robot command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest_bundles import TINY_RECIPE, export_tiny_bundle, poison_weights
from test_training import TINY_LLAMA, make_recipe

from vlakit.cli.main import main
from vlakit.errors import NonFiniteError
from vlakit.policy import Policy
from vlakit.runtime import run_episode

pytest.importorskip("vlakit_tabletop")


def test_a_diverging_training_stops_with_a_clear_error_and_no_bundle(tmp_path: Path, capsys) -> None:
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 3})
    run = tmp_path / "run"
    argv = ["train", str(recipe), "trainer.lr=1e37", "--no-eval", "--run-dir", str(run)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "training loss is nan at step 1" in err and "Traceback" not in err
    assert not (run / "bundle").exists()


def test_export_refuses_non_finite_weights_and_writes_nothing(tmp_path: Path) -> None:
    from vlakit_tabletop.sim import ACTION_SPACE

    from vlakit.model import build_codec, build_vla
    from vlakit.plugins import get_registry
    from vlakit.policy.export import export_vla
    from vlakit.recipes import load_recipe

    (tmp_path / "r.yaml").write_text(TINY_RECIPE)
    recipe = load_recipe(tmp_path / "r.yaml")
    registry = get_registry()
    codec = build_codec(recipe.model, registry)
    codec.fit(np.stack([ACTION_SPACE.low_array, ACTION_SPACE.high_array])[:, None].astype(np.float32))
    vla = build_vla(recipe.model, registry, codec, ["top"], 0)
    with torch.no_grad():
        next(vla.projector.parameters())[0, 0] = float("inf")
    robot = {"action_space": ACTION_SPACE.to_dict(), "cameras": ["top"], "state_dim": 0, "horizon": 1}
    with pytest.raises(NonFiniteError, match=r"refusing to export .*\(projector\."):
        export_vla(tmp_path / "bundle", vla, recipe, robot)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.yaml"]


def test_a_policy_refuses_non_finite_logits_and_the_loop_stops_the_robot(tmp_path: Path) -> None:
    from vlakit_tabletop.config import TabletopConfig
    from vlakit_tabletop.driver import TabletopDriver

    policy = Policy.load(poison_weights(export_tiny_bundle(tmp_path, TINY_RECIPE, "nan")))
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
    bundle = poison_weights(export_tiny_bundle(tmp_path, TINY_RECIPE, "nan"))
    assert main(["run", str(bundle), "--robot", "tabletop", "--hz", "0", "--max-steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "NaN or infinity" in err and "Traceback" not in err


def test_a_finite_policy_still_acts(tmp_path: Path) -> None:
    policy = Policy.load(export_tiny_bundle(tmp_path, TINY_RECIPE, "ok"))
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
