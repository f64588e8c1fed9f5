"""Compose, train, export, load: tiny real models on the CPU, through vlakit's own code paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from vlakit_hf.testing import tiny_gpt2_dir, tiny_llava_dir

from vlakit import Sample, TargetSpec
from vlakit.cli.main import main
from vlakit.errors import BundleError, RecipeError
from vlakit.interfaces import Conditioning
from vlakit.plugins import get_registry
from vlakit.policy import Policy
from vlakit.policy.bundle import MANIFEST, sha256_file
from vlakit.recipes import load_recipe
from vlakit.train.checkpoint import read_checkpoint
from vlakit.train.datamodule import MixtureDataModule
from vlakit.train.module import VLATrainingModule
from vlakit.train.run import prepare_training, train
from vlakit.types import Observation

TINY_VIT = {"type": "timm", "model": "vit_tiny_patch16_224", "img_size": 32, "patch_size": 8,
            "embed_dim": 32, "depth": 1, "num_heads": 2}
TINY_LLAMA = {"type": "hf", "config": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2}}


def make_recipe(tmp_path: Path, language: dict, vision: dict | None = TINY_VIT, **sections) -> Path:
    data = {
        "name": "tiny",
        "model": {"vision": vision, "language": language, "codec": {"type": "uniform-bins", "bins": 32},
                  "projector": {"kind": "linear"}},
        "data": {"train": [{"type": "tabletop-demos", "episodes": 2, "image_size": 32}],
                 "cache_dir": str(tmp_path / "cache")},
        "trainer": {"max_steps": 3, "batch_size": 4, "lr": 1e-3, "accelerator": "cpu", "devices": 1,
                    "log_every": 1},
        "output_dir": str(tmp_path / "runs"),
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def module_for(recipe_path: Path) -> tuple[VLATrainingModule, list]:
    recipe = load_recipe(recipe_path)
    module, sources = prepare_training(recipe)
    module.configure_model()
    data = MixtureDataModule(sources, recipe.trainer.batch_size)
    data.attach(module.vla)
    dataset = sources.datasets[0]
    picked, seen = [], set()
    for i in range(0, len(dataset), 3):  # distinct inputs, so a fixed batch can be fit exactly
        s = dataset[i]
        key = (s.images["top"].tobytes(), s.text)
        if key not in seen:
            seen.add(key)
            picked.append(s)
        if len(picked) == 8:
            break
    batch = data.collator()(picked)
    return module, batch


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_compose_and_overfit_a_fixed_batch(arch, tmp_path):
    language = TINY_LLAMA if arch == "llama" else {"type": "hf", "path": str(tiny_gpt2_dir(tmp_path))}
    module, batch = module_for(make_recipe(tmp_path, language))
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=3e-3)
    acc = 0.0
    for _ in range(600):
        out = module.vla(batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        acc = module.vla.action_metrics(batch, out["logits"], out["labels"])["action_token_acc"]
        if acc == 1.0:
            break
    assert acc == 1.0, f"action-token accuracy {acc} after overfitting a fixed batch"


def test_train_export_and_act(tmp_path):
    result = train(make_recipe(tmp_path, TINY_LLAMA), progress=False)
    policy = Policy.load(result.bundle)
    env = get_registry().build("robot", {"type": "tabletop", "image_size": 32})
    env.connect()
    task = env.reset_task(0, "seen")
    obs = env.observe()
    action = policy.act(obs, task.instruction)
    space = policy.action_space
    assert action.shape == (space.dim,) and action.dtype == np.float32
    assert np.all(action >= space.low_array - 1e-6) and np.all(action <= space.high_array + 1e-6)
    batch = policy.act_batch([obs, obs], [task.instruction, "pick up the blue circle"])
    assert batch.shape == (2, space.dim)
    np.testing.assert_array_equal(batch[0], action)  # batching (left padding) does not change a row
    no_cache = Policy(policy.vla, space, policy.recipe, use_cache=False)
    np.testing.assert_array_equal(no_cache.act_batch([obs, obs], [task.instruction, "pick up the blue circle"]), batch)
    assert (result.run_dir / "recipe.yaml").is_file()
    assert (result.run_dir / "logs" / "metrics.csv").is_file()


def test_instruction_conditioned_vision_trains_exports_and_acts(tmp_path):
    """A FiLM convnet gets the encoded prompt and state: it trains, round-trips through the bundle,
    the condition sees only the prompt (left padding in a batch changes no row), word order and
    whether the gripper is closed."""
    vision = {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2],
              "readout": "flat", "flat_tokens": 2, "film_dim": 8}
    recipe = make_recipe(tmp_path, TINY_LLAMA, vision=vision, model={"use_state": True}, trainer={"max_steps": 3})
    result = train(recipe, progress=False)
    policy = Policy.load(result.bundle)
    vla = policy.vla
    assert vla.conditioner is not None and vla.conditioner.out[-1].out_features == 8
    assert any(film.weight.abs().sum() > 0 for film in vla.vision.films), "FiLM weights got no gradient"
    weights = load_file(str(Path(result.bundle) / "model.safetensors"))
    assert any(name.startswith("conditioner.") for name in weights)
    env = get_registry().build("robot", {"type": "tabletop", "image_size": 32})
    env.connect()
    task = env.reset_task(0, "seen")
    obs = env.observe()
    short, long = task.instruction, "please grab the small blue circle next to the big red star"
    one = policy.act(obs, short)
    both = policy.act_batch([obs, obs], [short, long])
    np.testing.assert_array_equal(both[0], one)
    opened = torch.tensor([[0.5, 0.5, 0.0]])

    def condition(text: str, state: torch.Tensor | None = opened) -> torch.Tensor:
        with torch.inference_mode():
            ids = torch.tensor([vla.prompts.prompt_ids(text, robot=True)])
            states = vla.state_embeds(state, torch.float32)
            return vla.conditioner(Conditioning(vla.language.embed_tokens(ids), torch.ones_like(ids), states))

    assert not torch.allclose(condition(short), condition(long))
    ab, ba = "put the red star next to the blue circle", "put the blue circle next to the red star"
    assert not torch.allclose(condition(ab), condition(ba), atol=1e-6)  # the same words in another order
    assert not torch.allclose(condition(ab), condition(ab, torch.tensor([[0.5, 0.5, 1.0]])), atol=1e-6)
    with pytest.raises(ValueError, match="give a state"):
        condition(ab, None)


def test_word_tokenizer_is_fitted_on_the_training_texts(tmp_path):
    """tokenizer: words without a vocabulary: vlakit train fits it on the demonstrations' instructions
    and the prompt; the bundle's recipe keeps it, so the loaded policy tokenizes the same way."""
    result = train(make_recipe(tmp_path, {**TINY_LLAMA, "tokenizer": "words"}), progress=False)
    vocabulary = result.recipe.model.language["vocabulary"]
    dataset = get_registry().build("dataset", {"type": "tabletop-demos", "episodes": 2, "image_size": 32})
    dataset.prepare(tmp_path / "cache")
    instructions = list(dataset.texts())
    assert {w for text in instructions for w in text.split()} <= set(vocabulary)
    assert {"What", "action", "robot"} <= set(vocabulary)  # from the default prompt template
    policy = Policy.load(result.bundle)
    assert policy.recipe.model.language["vocabulary"] == vocabulary
    tokenizer = policy.vla.language.tokenizer
    assert len(tokenizer) == 4 + len(vocabulary)
    ids = policy.vla.prompts.prompt_ids(instructions[0], robot=True)
    assert tokenizer.unk_token_id not in ids
    assert len(ids) < len(policy.vla.prompts.template)  # words, not bytes
    assert load_recipe(result.run_dir / "recipe.yaml").model.language.get("vocabulary") is None


def test_llava_lora_from_directory(tmp_path):
    llava = tiny_llava_dir(tmp_path)
    language = {"type": "llava", "path": str(llava), "lora": {"r": 4, "alpha": 8, "target_modules": "all-linear"}}
    result = train(make_recipe(tmp_path, language, vision=None, model={"token_mapping": "tail"}), progress=False)
    description = json.loads((result.bundle / "language" / "language.json").read_text())
    assert description["format"] == "adapters" and description["base"]["path"] == str(llava)
    policy = Policy.load(result.bundle)
    obs = Observation(images={"top": np.zeros((32, 32, 3), np.uint8)}, state=None)
    action = policy.act(obs, "pick up the red circle")
    assert action.shape == (policy.action_space.dim,) and np.isfinite(action).all()


def test_resume_continues_exactly(tmp_path):
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 4, "checkpoint_every": 2})
    full = train(recipe, run_dir=tmp_path / "full", progress=False)
    ckpt = tmp_path / "full" / "checkpoints" / "step-2.ckpt"
    saved = read_checkpoint(ckpt)  # plain containers and tensors only (weights_only)
    assert saved["global_step"] == 2 and saved["optimizer_states"][0]["state"]
    resumed = train(recipe, resume=ckpt, run_dir=tmp_path / "resumed", progress=False)
    last = read_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.ckpt")
    assert last["global_step"] == 4
    a = load_file(str(full.bundle / "model.safetensors"))
    b = load_file(str(resumed.bundle / "model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    la = load_file(str(full.bundle / "language" / "model.safetensors"))
    lb = load_file(str(resumed.bundle / "language" / "model.safetensors"))
    for key in la:
        torch.testing.assert_close(la[key], lb[key], rtol=0, atol=1e-6)


def test_tampered_bundle_is_refused(tmp_path, capsys):
    result = train(make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1}), progress=False)
    weights = result.bundle / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.safetensors does not match its hash"):
        Policy.load(result.bundle)
    assert main(["eval", str(result.bundle), "--robot", "tabletop", "--episodes", "1"]) == 2
    assert "does not match its hash" in capsys.readouterr().err


def test_bundle_from_other_versions_is_refused(tmp_path):
    result = train(make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1}), progress=False)
    versions = result.bundle / "versions.json"
    data = json.loads(versions.read_text())
    data["torch"] = "1.13.0"
    versions.write_text(json.dumps(data))
    manifest = json.loads((result.bundle / MANIFEST).read_text())
    manifest["files"]["versions.json"] = sha256_file(versions)
    (result.bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"torch 1\.13\.0 \(installed"):
        Policy.load(result.bundle)


def test_bundle_whose_weights_have_other_shapes_is_refused(tmp_path, capsys):
    """Weights of another model (a tensor of another shape, its hash in order): one clear error, exit 2."""
    from safetensors.torch import save_file

    result = train(make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1}), progress=False)
    weights = result.bundle / "model.safetensors"
    state = load_file(str(weights))
    name = next(k for k, v in state.items() if v.ndim == 2 and not k.startswith("language."))
    state[name] = state[name][:, :-1].contiguous()
    save_file(state, str(weights))
    manifest = json.loads((result.bundle / MANIFEST).read_text())
    manifest["files"]["model.safetensors"] = sha256_file(weights)
    (result.bundle / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=f"weights do not fit the recipe's model.*{name}"):
        Policy.load(result.bundle)
    assert main(["eval", str(result.bundle), "--robot", "tabletop", "--episodes", "1"]) == 2
    assert "weights do not fit" in capsys.readouterr().err


def test_each_run_gets_its_own_directory(tmp_path):
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1})
    first = train(recipe, progress=False)
    second = train(recipe, progress=False)
    assert first.run_dir != second.run_dir
    assert first.run_dir.parent == second.run_dir.parent == tmp_path / "runs" / "tiny"


def test_export_checkpoint(tmp_path, capsys):
    result = train(make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1}), progress=False)
    ckpt = result.run_dir / "checkpoints" / "last.ckpt"
    assert main(["export", str(ckpt), str(tmp_path / "again")]) == 0
    a = Policy.load(result.bundle)
    b = Policy.load(tmp_path / "again")
    obs = Observation(images={"top": np.full((32, 32, 3), 90, np.uint8)})
    np.testing.assert_array_equal(a.act(obs, "pick up the red star"), b.act(obs, "pick up the red star"))


def test_ddp_two_processes_on_cpu(tmp_path):
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 2, "strategy": "ddp", "devices": 2})
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("VLAKIT_RUN_DIR", None)
    out = subprocess.run(
        [sys.executable, "-m", "vlakit", "train", str(recipe), "--no-eval", "--run-dir", str(tmp_path / "ddp")],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "world_size=2" in out.stderr or "distributed_backend=gloo" in out.stderr
    rate = re.search(r"trained 2 steps in \d+ s: ([\d.]+) steps/s \((\d+) samples/s\)", out.stdout)
    assert rate, out.stdout[-2000:]
    assert abs(int(rate[2]) - 2 * 4 * float(rate[1])) <= 1  # two processes of 4 samples a step
    # third-party chatter a vlakit user can do nothing about stays out of the run's output:
    # Lightning's advert for its cloud logger, its own use of torch's deprecated LeafSpec,
    # transformers' note on how it initializes the appended action-token rows
    for chatter in ("litlogger", "LeafSpec", "mean_resizing"):
        assert chatter not in out.stdout + out.stderr, chatter
    policy = Policy.load(tmp_path / "ddp" / "bundle")
    obs = Observation(images={"top": np.zeros((32, 32, 3), np.uint8)})
    assert np.isfinite(policy.act(obs, "pick up the red star")).all()


CODECS = {
    "uniform-bins": {"type": "uniform-bins", "bins": 32},
    "quantile-bins": {"type": "quantile-bins", "bins": 32, "fixed_dims": [2, 3], "fixed_range": [0.0, 1.0]},
    "equal-mass-bins": {"type": "equal-mass-bins", "bins": 16},
    "fast": {"type": "fast", "horizon": 4, "vocab_size": 64},
}


@pytest.mark.parametrize("name", sorted(CODECS))
def test_every_codec_trains_exports_and_acts(name, tmp_path):
    recipe = make_recipe(tmp_path, TINY_LLAMA, model={"codec": CODECS[name]}, trainer={"max_steps": 2})
    result = train(recipe, progress=False)
    policy = Policy.load(result.bundle)
    obs = Observation(images={"top": np.full((32, 32, 3), 120, np.uint8)})
    action = policy.act(obs, "pick up the red star")
    space = policy.action_space
    expected = (space.dim,) if policy.horizon == 1 else (policy.horizon, space.dim)
    assert action.shape == expected and np.isfinite(action).all()


FILM_CONVNET = {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2],
                "readout": "keypoints", "flat_tokens": 2, "film_dim": 8}


@pytest.mark.parametrize("vision", [TINY_VIT, FILM_CONVNET], ids=["vit", "film-convnet"])
def test_bench_recipe_measures_a_composition_with_state(vision, tmp_path):
    """Regression: the benchmark's bare-model path ignored the state token of use_state recipes
    (and must give an instruction-conditioned backbone its condition)."""
    from vlakit.bench.recipe import bench_recipe, format_result

    recipe = make_recipe(tmp_path, {**TINY_LLAMA, "tokenizer": "words"}, vision=vision, model={"use_state": True})
    result = bench_recipe(recipe, steps=2, warmup=1, act_calls=2)
    assert result["params_trainable"] > 0 and result["train_ratio"] > 0 and result["act_over_bare"] > 0
    assert "ratio" in format_result(result)


def test_lr_scale_gives_a_part_its_own_step_size(tmp_path):
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"lr_scale": {"vision": 4.0}, "warmup_steps": 0})
    module, batch = module_for(recipe)
    optimizer = module.configure_optimizers()["optimizer"]
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    for name, p in module.vla.named_parameters():
        expected = 4e-3 if name.startswith("vision.") else 1e-3
        assert lr_of[id(p)] == pytest.approx(expected), name
    # one AdamW step moves each weight by about its lr: vision weights move 4x as far
    before = {n: p.detach().clone() for n, p in module.vla.named_parameters()}
    module.vla(batch)["loss"].backward()
    optimizer.step()
    moved = {n: (p.detach() - before[n]).abs().max().item() for n, p in module.vla.named_parameters()}
    assert moved["vision.model.patch_embed.proj.weight"] == pytest.approx(4e-3, rel=0.05)
    assert moved["projector.weight"] == pytest.approx(1e-3, rel=0.05)


def test_lr_scale_names_must_be_parts_of_the_vla(tmp_path):
    with pytest.raises(RecipeError, match="lr_scale"):
        load_recipe(make_recipe(tmp_path, TINY_LLAMA, trainer={"lr_scale": {"vison": 4.0}}))


def test_collated_targets_are_zeros_with_a_mask_where_absent():
    """Named targets: declared ones always (zeros and False where a sample has none), undeclared
    ones when a sample carries them; a sample of another shape is an error naming the target."""
    from vlakit.data.collate import collate_targets

    image = {"top": np.zeros((4, 4, 3), dtype=np.uint8)}
    point = np.array([0.25, 0.5], dtype=np.float32)
    with_point = Sample(image, "a", targets={"point": point, "count": np.array(3)})
    without = Sample(image, "b", answer="c")
    specs = {"point": TargetSpec((2,)), "never": TargetSpec((3,), dtype="int64")}
    targets, present = collate_targets([without, with_point], specs)
    assert set(targets) == set(present) == {"point", "never", "count"}
    assert targets["point"].dtype == torch.float32 and targets["point"].tolist() == [[0, 0], [0.25, 0.5]]
    assert present["point"].tolist() == [False, True] and present["never"].tolist() == [False, False]
    assert targets["never"].shape == (2, 3) and targets["never"].dtype == torch.int64
    assert targets["count"].tolist() == [0, 3]
    with pytest.raises(ValueError, match="target 'point'"):
        collate_targets([with_point, Sample(image, "d", targets={"point": np.zeros(3, np.float32)})], specs)


def test_objectives_join_the_loss_and_the_log_and_stay_out_of_the_bundle(tmp_path):
    """model.objectives: each objective's losses times its weight join the next-token loss (rows
    without a target add nothing), each is logged as train/NAME, and the bundle leaves them out."""
    vision = {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2], "readout": "keypoints",
              "flat_tokens": 2, "film_dim": 8, "relate": 1}
    objectives = [{"type": "aim-point", "weight": 2.0}, {"type": "keypoint-map", "target": "aim", "weight": 0.5},
                  {"type": "related-point", "target": "anchor", "weight": 3.0}]
    data = {"train": [{"type": "tabletop-demos", "episodes": 2, "image_size": 32, "families": ["pick-closest"]}]}
    recipe = make_recipe(tmp_path, TINY_LLAMA, vision=vision, data=data,
                         model={"use_state": True, "objectives": objectives})
    module, batch = module_for(recipe)
    vla = module.vla
    assert batch["has_target"]["anchor"].all() and batch["targets"]["aim"].shape == (len(batch["is_robot"]), 2)
    out = vla(batch)
    losses = out["objectives"]
    assert set(losses) == {"aim_l1", "aim_map_ce", "anchor_l1"} and all(v > 0 for v in losses.values())
    logits, labels = out["logits"], out["labels"]
    action_loss = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
    )
    weighted = 2.0 * losses["aim_l1"] + 0.5 * losses["aim_map_ce"] + 3.0 * losses["anchor_l1"]
    assert torch.allclose(out["loss"], action_loss + weighted)
    absent = {**batch, "has_target": {k: torch.zeros_like(v) for k, v in batch["has_target"].items()}}
    out_absent = vla(absent)
    assert all(v == 0 for v in out_absent["objectives"].values())
    assert torch.allclose(out_absent["loss"], action_loss)

    result = train(recipe, progress=False)
    header = (result.run_dir / "logs" / "metrics.csv").read_text().splitlines()[0]
    assert all(f"train/{name}" in header for name in losses)
    weights = load_file(str(Path(result.bundle) / "model.safetensors"))
    assert not any(name.startswith("objectives.") for name in weights)
    policy = Policy.load(result.bundle)
    assert len(policy.vla.objectives) == 0
    env = get_registry().build("robot", {"type": "tabletop", "image_size": 32})
    env.connect()
    task = env.reset_task(0, "seen")
    assert policy.act(env.observe(), task.instruction).shape == (policy.action_space.dim,)


def test_an_objective_needs_its_targets_and_outputs(tmp_path):
    """An objective reading a target no source declares, or an output the backbone does not give,
    is a RecipeError naming the objective's place in the recipe."""
    vision = {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2], "readout": "flat",
              "flat_tokens": 2}
    recipe = make_recipe(tmp_path, TINY_LLAMA, vision=vision,
                         model={"objectives": [{"type": "aim-point", "target": "nowhere"}]})
    with pytest.raises(RecipeError, match=r"model.objectives.0 \(aim-point\).*'nowhere'"):
        module_for(recipe)
    recipe = make_recipe(tmp_path, TINY_LLAMA, vision=vision, model={"objectives": [{"type": "keypoint-map"}]})
    with pytest.raises(RecipeError, match="keypoint_logits"):
        module_for(recipe)


def test_an_objective_on_image_tokens_needs_a_separate_vision_backbone(tmp_path):
    language = {"type": "llava", "path": str(tiny_llava_dir(tmp_path))}
    recipe = make_recipe(tmp_path, language, vision=None,
                         model={"token_mapping": "tail", "objectives": [{"type": "aim-point"}]})
    with pytest.raises(RecipeError, match="model.objectives.0"):
        module_for(recipe)


def test_two_cameras_train_export_and_act(tmp_path):
    """A recipe with the tabletop's top and wrist cameras trains (its objectives reading the top
    camera, the one their targets name), exports and acts on a two-camera observation."""
    vision = {"type": "convnet", "img_size": 32, "channels": [8, 8, 8], "strides": [2, 2, 1], "readout": "keypoints",
              "flat_tokens": 2, "film_dim": 8, "relate": 1}
    objectives = [{"type": "aim-point", "weight": 1.0}, {"type": "keypoint-map", "target": "aim", "weight": 0.5},
                  {"type": "related-point", "target": "anchor", "weight": 1.0}]
    data = {"train": [{"type": "tabletop-demos", "episodes": 2, "image_size": 32, "cameras": ["top", "wrist"]}]}
    recipe = make_recipe(tmp_path, TINY_LLAMA, vision=vision, data=data,
                         model={"use_state": True, "objectives": objectives})
    module, batch = module_for(recipe)
    assert module.vla.cameras == ["top", "wrist"] and set(batch["images"]) == {"top", "wrist"}
    assert not torch.equal(batch["images"]["top"], batch["images"]["wrist"])
    prefix = module.vla.prefix(batch["images"], batch["state"], batch["input_ids"], batch["attention_mask"],
                               batch["attention_mask"])
    assert prefix.image_tokens.shape[1] == 2 * 2 and set(prefix.vision) == {"top", "wrist"}
    assert module.vla.objectives[1].camera == "top"
    result = train(recipe, progress=False)
    policy = Policy.load(result.bundle)
    assert policy.vla.cameras == ["top", "wrist"]
    env = get_registry().build("robot", {"type": "tabletop", "image_size": 32, "cameras": ["top", "wrist"]})
    env.connect()
    task = env.reset_task(0, "seen")
    obs = env.observe()
    assert set(obs.images) == {"top", "wrist"}
    action = policy.act(obs, task.instruction)
    assert action.shape == (policy.action_space.dim,) and np.isfinite(action).all()


def test_lr_groups_are_the_models_parts_and_what_components_declare(tmp_path):
    """trainer.lr_scale names the composed model's parameter groups: its parts (objectives by
    name) and the sub-groups a component declares; the most specific key wins; a key naming no
    group is a RecipeError listing them."""
    from vlakit.train.module import lr_scales

    vision = {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2], "readout": "flat",
              "flat_tokens": 2, "film_dim": 4}
    recipe = make_recipe(tmp_path, TINY_LLAMA, vision=vision,
                         model={"use_state": True, "objectives": [{"type": "aim-point"}]},
                         trainer={"lr_scale": {"objectives": 2.0, "conditioner": 3.0}})
    module, _ = module_for(recipe)
    vla = module.vla
    groups = vla.parameter_groups()
    assert list(groups) == ["language", "vision", "projector", "state", "conditioner", "objectives.aim-point"]
    assert sum(len(p) for p in groups.values()) == len(list(vla.parameters()))
    optimizer = module.configure_optimizers()["optimizer"]
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    assert [lr_of[id(p)] for p in vla.objectives.parameters()] == pytest.approx([2e-3] * 4)
    assert [lr_of[id(p)] for p in vla.conditioner.parameters()] == pytest.approx([3e-3] * len(groups["conditioner"]))
    assert [lr_of[id(p)] for p in vla.vision.parameters()] == pytest.approx([1e-3] * len(groups["vision"]))
    vla.vision.parameter_groups = lambda: {"film": list(vla.vision.films.parameters())}
    scales = lr_scales(vla.parameter_groups(), {"vision": 2.0, "vision.film": 5.0, "objectives.aim-point": 4.0})
    assert {scales[id(p)] for p in vla.vision.films.parameters()} == {5.0}
    assert {scales[id(p)] for p in vla.vision.convs.parameters()} == {2.0}
    assert {scales[id(p)] for p in vla.objectives.parameters()} == {4.0}
    with pytest.raises(RecipeError, match="vision.nothing.*groups: language, vision.film"):
        lr_scales(vla.parameter_groups(), {"vision.nothing": 2.0})


def test_tail_mapping_over_the_texts_words_is_refused_before_training(tmp_path, capsys):
    """A word vocabulary is fitted on the texts, so its tail is made of their words: refused
    with one message before the first step (it trained silently before, issue 17)."""
    model = {"token_mapping": "tail", "codec": {"type": "uniform-bins", "bins": 8}}
    recipe = make_recipe(tmp_path, {**TINY_LLAMA, "tokenizer": "words"}, model=model)
    code = main(["train", str(recipe), "--run-dir", str(tmp_path / "run"), "--no-eval"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "token mapping 'tail'" in err and "the training texts are written with" in err
    assert "Traceback" not in err
    assert not list((tmp_path / "run").rglob("*.ckpt"))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="Lightning's thread default equals 1 on one core")
def test_the_recipes_thread_count_holds_under_the_ddp_launcher(tmp_path, monkeypatch, ddp_in_this_process):
    # Lightning's DDP launcher used to reset the threads to cores / processes, over num_threads
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1, "strategy": "ddp", "devices": 1,
                                                        "num_threads": 1})
    import vlakit.train.run as run

    fit, during = run.fit_or_interrupt, []

    def fit_and_count(*args):  # the launcher has set the threads by the end of fit
        fit(*args)
        during.append(torch.get_num_threads())

    monkeypatch.setattr(run, "fit_or_interrupt", fit_and_count)
    train(recipe, progress=False)
    assert during == [1]
    assert "OMP_NUM_THREADS" not in os.environ


def test_ddp_workers_are_started_before_rank_0_prepares_its_data(tmp_path, monkeypatch, ddp_in_this_process):
    """So they import and prepare their own data meanwhile (about 10 s of the main job)."""
    import vlakit.train.run as run
    from vlakit.train.launcher import WatchedSubprocessLauncher

    events: list[str] = []
    start, prepare = WatchedSubprocessLauncher.start_workers, run.prepare_training

    def start_and_note(self):
        events.append("workers")
        start(self)

    def prepare_and_note(*args):
        events.append("prepare")
        return prepare(*args)

    monkeypatch.setattr(WatchedSubprocessLauncher, "start_workers", start_and_note)
    monkeypatch.setattr(run, "prepare_training", prepare_and_note)
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1, "strategy": "ddp", "devices": 1})
    train(recipe, progress=False)
    assert events[:2] == ["workers", "prepare"]
