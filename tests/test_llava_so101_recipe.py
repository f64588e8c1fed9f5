"""The design's example recipe (LoRA LLaVA, 256 bins, a LeRobot SO-101 dataset co-trained with
LLaVA JSON) trains end to end on CPU: a tiny LLaVA built from configs, tiny generated datasets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from vlakit_hf.testing import tiny_llava_dir

from vlakit.data.recording import open_recording
from vlakit.interfaces.writer import RecordingSpec
from vlakit.plugins import get_registry
from vlakit.policy import Policy
from vlakit.train.run import train
from vlakit.types import ActionSpace, CameraSpec, Episode, Observation

EXAMPLE = Path(__file__).resolve().parents[1] / "recipes/llava-lora-so101.yaml"
JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
SO101 = ActionSpace(JOINTS, ("deg",) * 5 + ("percent",), (-150.0,) * 5 + (0.0,), (150.0,) * 5 + (100.0,))


def record_so101_like(root: Path, episodes: int = 3, steps: int = 6) -> None:
    """A small LeRobot dataset of an SO-101-shaped arm (front camera, 6 joints), via the installed writer."""
    spec = RecordingSpec(fps=30, action_space=SO101, cameras=(CameraSpec("front", 32, 32),), state_names=JOINTS)
    rng = np.random.default_rng(0)
    with open_recording(get_registry(), root, spec) as writer:
        for k in range(episodes):
            actions = rng.uniform(-40, 40, (steps, 6)).astype(np.float32)
            actions[:, 5] = np.abs(actions[:, 5])
            images = {"front": rng.integers(0, 255, (steps, 32, 32, 3), dtype=np.uint8)}
            writer.write_episode(Episode(images=images, actions=actions, states=actions * 0.5,
                                         instruction=["pick up the cube", "push the cube left"][k % 2]))


def llava_conversations(folder: Path) -> Path:
    folder.mkdir()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(folder / "red.png")
    record = {"id": "0", "image": "red.png", "conversations": [
        {"from": "human", "value": "<image>\nwhat colour is the cube?"}, {"from": "gpt", "value": "red"}]}
    (folder / "convs.json").write_text(json.dumps([record]))
    return folder / "convs.json"


def test_the_example_composition_trains_and_acts_on_cpu(tmp_path):
    recipe = yaml.safe_load(EXAMPLE.read_text())
    assert [b["type"] for b in recipe["data"]["train"]] == ["lerobot", "vqa-json"]
    assert recipe["model"]["language"]["type"] == "llava" and recipe["model"]["codec"]["bins"] == 256
    record_so101_like(tmp_path / "so101")
    recipe["model"]["language"].update(path=str(tiny_llava_dir(tmp_path)), dtype="float32",
                                       lora={"r": 4, "alpha": 8, "target_modules": "all-linear"})
    recipe["data"]["train"][0].update(root=str(tmp_path / "so101"), image_size=32)
    recipe["data"]["train"][1].update(path=str(llava_conversations(tmp_path / "vqa")), image_size=32)
    recipe["data"].update(num_workers=0, cache_dir=str(tmp_path / "cache"))
    # The tiny LLaVA's byte-level vocabulary is all in use by the texts, so the recipe's "tail"
    # mapping would overwrite it (refused); a real LLaVA's 32,000 ids leave a tail of rare tokens.
    recipe["model"]["token_mapping"] = "append"
    recipe["trainer"] = {"max_steps": 2, "batch_size": 4, "accelerator": "cpu", "devices": 1, "log_every": 1}
    recipe.pop("eval")  # the serial-arm driver is exercised by its own tests
    recipe["output_dir"] = str(tmp_path / "runs")
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = train(path, progress=False)
    policy = Policy.load(result.bundle)
    assert policy.action_space.names == JOINTS and policy.action_space.units == SO101.units
    state = np.zeros(6, np.float32)
    action = policy.act(Observation(images={"front": np.zeros((32, 32, 3), np.uint8)}, state=state), "pick up the cube")
    assert action.shape == (6,) and np.isfinite(action).all()
