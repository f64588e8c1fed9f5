"""Objectives, the sixth plugin kind: the shipped ones meet the contract, and a third party's,
installed as a real distribution, is listed, selected by a recipe and trained."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from vlakit import TargetSpec
from vlakit.interfaces import IMAGE_TOKENS, ModelInfo, ModelOutputs
from vlakit.plugins import get_registry
from vlakit.testing import check_objective

CONVNET = {"type": "convnet", "img_size": 32, "channels": [8, 8, 8], "strides": [2, 2, 1], "readout": "keypoints",
           "flat_tokens": 2, "relate": 2}


def convnet_batch():
    """A real convnet forward on four images, its outputs as the VLA gives them (camera ``top``)."""
    torch.manual_seed(0)
    net = get_registry().build("vision", CONVNET)
    images = torch.randint(0, 256, (4, 32, 32, 3), dtype=torch.uint8)
    seen = net(net.preprocess(images))
    info = ModelInfo(
        cameras=("top",), image_tokens=2, token_width=8, outputs=(IMAGE_TOKENS, *net.output_names),
        targets={"aim": TargetSpec((2,), camera="top"), "anchor": TargetSpec((2,), camera="top")},
    )
    outputs = ModelOutputs(seen.tokens, {"top": seen.outputs})
    targets = {"aim": torch.rand(4, 2), "anchor": torch.rand(4, 2)}
    present = {"aim": torch.tensor([True, True, False, True]), "anchor": torch.tensor([False, True, True, False])}
    return info, outputs, targets, present


@pytest.mark.parametrize("block", [{"type": "aim-point"}, {"type": "keypoint-map", "target": "aim"},
                                   {"type": "related-point", "target": "anchor", "point": 1}])
def test_shipped_objectives_meet_the_contract(block):
    info, outputs, targets, present = convnet_batch()
    check_objective(get_registry().build("objective", block), info, outputs, targets, present)


def test_an_objective_reading_its_camera_refuses_one_the_model_does_not_see():
    info, *_ = convnet_batch()
    info = ModelInfo(info.cameras, 2, 8, info.outputs, {"aim": TargetSpec((2,), camera="wrist")})
    with pytest.raises(ValueError, match="wrist"):
        get_registry().build("objective", {"type": "keypoint-map", "target": "aim"}).setup(info)


CENTRE = '''
import torch
from torch import nn

from vlakit import ComponentConfig, hookimpl
from vlakit.interfaces import IMAGE_TOKENS, Objective, point_l1


class CentreConfig(ComponentConfig):
    target: str = "aim"


class Centre(Objective):
    """A linear head on the mean image token regresses a point target."""

    outputs = (IMAGE_TOKENS,)

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.targets = (config.target,)

    def setup(self, model):
        self.head = nn.Linear(model.token_width, 2)

    def forward(self, outputs, targets, present):
        guess = self.head(outputs.image_tokens.mean(1))
        name = self.config.target
        return {"centre_l1": point_l1(guess, targets[name], present[name])}


@hookimpl
def register_objectives(register):
    register("centre-point", Centre, config=CentreConfig, description="third-party point head")
'''


def test_a_third_party_objective_is_listed_selected_and_lowers_its_loss(plugin_dist, tmp_path):
    root = plugin_dist("vlakit-centre", {"vlakit_centre.plugin": CENTRE}, {"centre": "vlakit_centre.plugin"}, "0.3.0")
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-m", "vlakit", "plugins", "--json"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = next(c for c in json.loads(out.stdout)["components"] if c["name"] == "centre-point")
    assert listed["kind"] == "objective" and listed["distribution"] == "vlakit-centre"

    from vlakit.train.run import train

    recipe = {
        "name": "centre",
        "model": {"vision": {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2],
                             "readout": "flat", "flat_tokens": 2},
                  "language": {"type": "hf", "config": {"model_type": "llama", "hidden_size": 32,
                               "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
                               "num_key_value_heads": 1}},
                  "codec": {"type": "uniform-bins", "bins": 16}, "projector": {"kind": "linear"},
                  "objectives": [{"type": "centre-point", "weight": 1.0}]},
        "data": {"train": [{"type": "tabletop-demos", "episodes": 4, "image_size": 32}],
                 "cache_dir": str(tmp_path / "cache")},
        "trainer": {"max_steps": 40, "batch_size": 8, "lr": 3e-3, "accelerator": "cpu", "devices": 1,
                    "log_every": 1, "warmup_steps": 0, "schedule": "constant"},
        "output_dir": str(tmp_path / "runs"),
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = train(path, progress=False)
    with open(result.run_dir / "logs" / "metrics.csv") as f:
        losses = [float(row["train/centre_l1"]) for row in csv.DictReader(f) if row.get("train/centre_l1")]
    assert len(losses) == 40
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5]), losses


def test_objectives_read_the_camera_their_target_names():
    """With two cameras, keypoint-map and related-point read the outputs of the camera their
    target's spec names (here the second), whatever the other camera's outputs are."""
    info, outputs, targets, present = convnet_batch()
    specs = {name: TargetSpec((2,), camera="wrist") for name in ("aim", "anchor")}
    two = ModelInfo(("top", "wrist"), 2, 8, info.outputs, specs)
    noise = {k: torch.randn_like(v) for k, v in outputs.vision["top"].items()}
    for block in ({"type": "keypoint-map", "target": "aim"}, {"type": "related-point", "target": "anchor"}):
        objective = get_registry().build("objective", block)
        objective.setup(two)
        both = ModelOutputs(outputs.image_tokens, {"top": noise, "wrist": outputs.vision["top"]})
        alone = ModelOutputs(outputs.image_tokens, {"wrist": outputs.vision["top"]})
        assert objective(both, targets, present) == objective(alone, targets, present)


def test_objective_weights_are_checked_and_zero_switches_one_off(tmp_path):
    """weight: a number >= 0, checked with the recipe; an objective of weight 0 is not built (as
    the default recipe's objectives are switched off by an override)."""
    from vlakit.errors import RecipeError
    from vlakit.model import build_codec
    from vlakit.model.compose import build_objectives
    from vlakit.recipes import load_recipe

    base = "recipes/tabletop-tiny.yaml"
    with pytest.raises(RecipeError, match=r"model.objectives.0.weight: expected a finite number >= 0"):
        load_recipe(base, ["model.objectives.0.weight=-1"])
    recipe = load_recipe(base, ["model.objectives.1.weight=0"])
    registry = get_registry()
    build_codec(recipe.model, registry)
    vision = registry.build("vision", recipe.model.vision)
    from vlakit_tabletop.targets import TARGETS

    built = build_objectives(recipe.model, registry, vision, ["top"], 128, TARGETS)
    assert [(name, weight) for name, weight, _ in built] == [("aim-point", 3.0), ("related-point", 3.0)]
