"""The preflight (`vlakit validate`, and `vlakit train` before any data): each value the issue saw
accepted is refused with one message naming its dotted path, exit 2 (issue 17, "accepted
nonsense"); the trainer block is checked against the machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlakit import usable_cores
from vlakit.cli.main import main
from vlakit.recipes.loader import default_name
from vlakit.recipes.schema import TrainerSection
from vlakit.train.machine import Machine, machine_problems

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "recipes" / "tabletop-tiny.yaml"
VIT = REPO / "recipes" / "tabletop-vit.yaml"

#: (recipe, overrides, text the one message must contain)
NONSENSE = {
    "devices-0": (TINY, ["trainer.devices=0"], "trainer.devices"),
    "devices-minus-1": (TINY, ["trainer.devices=-1"], "trainer.devices"),
    "devices-lots": (TINY, ["trainer.devices=lots"], "trainer.devices"),
    "devices-empty-list": (TINY, ["trainer.devices=[]"], "trainer.devices"),
    "precision-garbage": (TINY, ["trainer.precision=garbage"], "trainer.precision"),
    "accelerator-quantum": (TINY, ["trainer.accelerator=quantum"], "trainer.accelerator"),
    "lr-inf": (TINY, ["trainer.lr=.inf"], "trainer.lr"),
    "lr-nan": (TINY, ["trainer.lr=.nan"], "trainer.lr"),
    "weight-decay-inf": (TINY, ["trainer.weight_decay=.inf"], "trainer.weight_decay"),
    "gradient-clip-nan": (TINY, ["trainer.gradient_clip=.nan"], "trainer.gradient_clip"),
    "lr-scale-nan": (TINY, ["trainer.lr_scale={vision: .nan}"], "trainer.lr_scale.vision"),
    "lr-scale-negative": (TINY, ["trainer.lr_scale={vision: -1}"], "trainer.lr_scale.vision"),
    "seed-negative": (TINY, ["trainer.seed=-1"], "trainer.seed"),
    "checkpoint-every-0": (TINY, ["trainer.checkpoint_every=0"], "trainer.checkpoint_every"),
    "num-threads-0": (TINY, ["trainer.num_threads=0"], "trainer.num_threads"),
    "weight-nan": (TINY, ["data.train.0.weight=.nan"], "data.train.0.weight"),
    "weight-inf": (TINY, ["data.train.0.weight=.inf"], "data.train.0.weight"),
    "aim-loss-inf": (TINY, ["model.aim_loss=.inf"], "model.aim_loss"),
    "projector-hidden-0": (TINY, ["model.projector.hidden=0"], "model.projector.hidden"),
    "hidden-size-0": (TINY, ["model.language.config.hidden_size=0"], "model.language.config.hidden_size"),
    "heads-not-dividing": (TINY, ["model.language.config.num_attention_heads=3"], "does not divide hidden_size 128"),
    "config-typo": (TINY, ["model.language.config.num_hiden_layers=8"], "did you mean 'num_hidden_layers'?"),
    "model-type-typo": (TINY, ["model.language.config.model_type=lama"], "model.language.config.model_type"),
    "hf-missing-path": (TINY, ["model.language={type: hf, path: /no/such/model}"], "model.language.path"),
    "codec-nan-range": (TINY, ["model.codec={type: uniform-bins, low: [.nan], high: [1]}"], "model.codec.low"),
    "eval-split-bogus": (TINY, ["eval.split=bogus"], "eval.split"),
    "eval-max-steps-0": (TINY, ["eval.max_steps=0"], "eval.max_steps"),
    "eval-seed-negative": (TINY, ["eval.seed=-5"], "eval.seed"),
    "prompt-unknown-field": (TINY, ["model.prompt='go to {task}'"], "model.prompt"),
    "fast-with-expectation": (TINY, ["model.codec={type: fast}"], "model.decoding"),
    "timm-name-typo": (VIT, ["model.vision.model=vit_tiny_patch16_244"], "did you mean 'vit_tiny_patch16_224'?"),
    "timm-missing-weights": (VIT, ["model.vision.pretrained_path=/no/such.safetensors"], "model.vision.pretrained_path"),
    "devices-999": (TINY, ["trainer.devices=999"], "trainer.devices: 999 processes"),
    "fsdp-on-cpu": (TINY, ["trainer.strategy=fsdp"], "trainer.strategy"),
    "fp16-on-cpu": (TINY, ["trainer.precision=16-mixed"], "trainer.precision"),
    "num-workers-100000": (TINY, ["data.num_workers=100000"], "data.num_workers: 100000 worker processes"),
    "warmup-past-the-end": (TINY, ["trainer.warmup_steps=100000"], "trainer.warmup_steps"),
    "name-escapes": (TINY, ["name=../../ESCAPED"], "name"),
    "name-absolute": (TINY, ["name=/tmp/x"], "name"),
}


@pytest.mark.parametrize("case", sorted(NONSENSE))
def test_nonsense_is_refused_with_one_message(case: str, capsys):
    recipe, overrides, expected = NONSENSE[case]
    code = main(["validate", str(recipe), *overrides])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("error: ") == 1 and "Traceback" not in err
    assert expected in err


def test_train_runs_the_preflight_before_any_data(tmp_path: Path, capsys):
    """devices=999 on this machine: refused at once, no run directory, no data cache."""
    run_dir = tmp_path / "run"
    cache = tmp_path / "cache"
    code = main([
        "train", str(TINY), "trainer.devices=999", f"data.cache_dir={cache}", f"output_dir={tmp_path / 'runs'}",
        "--run-dir", str(run_dir),
    ])
    err = capsys.readouterr().err
    assert code == 2 and "trainer.devices: 999 processes" in err
    assert not run_dir.exists() and not cache.exists() and not (tmp_path / "runs").exists()


def test_escaping_name_creates_no_directory(tmp_path: Path, capsys):
    code = main(["train", str(TINY), "name=../../ESCAPED", f"output_dir={tmp_path / 'runs' / 'a'}"])
    assert code == 2
    assert "name" in capsys.readouterr().err
    assert not any(tmp_path.rglob("ESCAPED"))


def test_default_name_is_a_safe_name():
    assert default_name("my recipe (v2).yaml") == "my-recipe-v2-"
    assert default_name("../.hidden.yaml") == "hidden"
    assert default_name("...yaml") == "recipe"


NO_GPU = Machine(cores=2, gpus=0, mps=False)
TWO_GPUS = Machine(cores=16, gpus=2, mps=False, bf16_gpu=True)


@pytest.mark.parametrize(
    "settings, machine, expected",
    [
        ({"accelerator": "cpu", "devices": 999}, NO_GPU, "999 processes, but this machine has 2"),
        ({"accelerator": "auto", "devices": 3}, NO_GPU, "3 processes, but this machine has 2"),
        ({"accelerator": "gpu"}, NO_GPU, "needs a CUDA GPU"),
        ({"accelerator": "cuda", "devices": 4}, TWO_GPUS, "4 processes, but this machine has 2 GPU(s)"),
        ({"accelerator": "gpu", "devices": [0, 2]}, TWO_GPUS, "index 2"),
        ({"accelerator": "cpu", "devices": [0, 1]}, NO_GPU, "a count of processes"),
        ({"accelerator": "cpu", "strategy": "fsdp"}, TWO_GPUS, "'fsdp' shards over GPUs"),
        ({"accelerator": "mps"}, NO_GPU, "Metal"),
        ({"accelerator": "cpu", "precision": "16-mixed"}, NO_GPU, "does not run on the CPU"),
    ],
)
def test_trainer_block_against_a_machine(settings: dict, machine: Machine, expected: str):
    problems = machine_problems(TrainerSection(**settings), machine=machine)
    assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize(
    "settings, machine",
    [
        ({"accelerator": "cpu", "devices": 2, "strategy": "ddp"}, NO_GPU),
        ({"accelerator": "auto"}, NO_GPU),
        ({"accelerator": "gpu", "devices": 2, "strategy": "fsdp", "precision": "bf16-mixed"}, TWO_GPUS),
        ({"accelerator": "gpu", "devices": [1]}, TWO_GPUS),
    ],
)
def test_trainer_blocks_that_fit(settings: dict, machine: Machine):
    assert machine_problems(TrainerSection(**settings), machine=machine) == []


def test_this_machine_is_described():
    here = Machine.this()
    assert here.cores >= 1 and here.gpus >= 0


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this OS")
def test_usable_cores_are_those_the_process_may_run_on():
    """A process pinned to one core has one usable core, however many the machine has (the
    count the DDP preflight and the tabletop demonstration workers use)."""
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); import vlakit; print(vlakit.usable_cores())"
    pinned = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert pinned.stdout.strip() == "1"
    assert usable_cores() == len(os.sched_getaffinity(0)) == Machine.this().cores


CHECKED_CODEC = '''
from vlakit import ComponentConfig, hookimpl
from vlakit_codecs.uniform import UniformBinsCodec


class CheckedConfig(ComponentConfig):
    bins: int = 256
    table: str = "none"

    def preflight(self):
        if self.table == "explode":
            raise RuntimeError("the check itself broke")
        return [] if self.table == "none" else [f"table: {self.table} is not a file"]


def build(config):
    from vlakit_codecs.config import UniformBinsConfig

    return UniformBinsCodec(UniformBinsConfig(bins=config.bins))


@hookimpl
def register_action_codecs(register):
    register("checked-bins", build, config=CheckedConfig, description="a codec with its own preflight")
'''


def test_a_third_party_plugin_contributes_its_own_checks(plugin_dist, capsys, monkeypatch):
    """ComponentConfig.preflight of an installed plugin runs in vlakit validate; a check that
    raises is reported, not a traceback."""
    monkeypatch.setenv("VLAKIT_DEBUG", "0")
    plugin_dist("vlakit-checked", {"vlakit_checked.plugin": CHECKED_CODEC}, {"checked": "vlakit_checked.plugin"})
    ok = ["model.codec={type: checked-bins}", "trainer.accelerator=cpu", "trainer.devices=1"]
    assert main(["validate", str(TINY), *ok]) == 0, capsys.readouterr().err
    code = main(["validate", str(TINY), *ok, "model.codec.table=/no/table.json"])
    err = capsys.readouterr().err
    assert code == 2 and "model.codec.table: /no/table.json is not a file [action codec 'checked-bins' from vlakit-checked]" in err
    code = main(["validate", str(TINY), *ok, "model.codec.table=explode"])
    err = capsys.readouterr().err
    assert code == 2 and "preflight failed: RuntimeError: the check itself broke" in err and "Traceback" not in err


def test_inline_llava_config_is_checked_in_its_parts(tmp_path, capsys):
    text = (REPO / "recipes" / "llava-lora.yaml").read_text()
    path = tmp_path / "llava.yaml"
    path.write_text(text)
    cpu = ["trainer.accelerator=cpu", "trainer.strategy=auto", "trainer.devices=1", "trainer.precision=32-true",
           "model.language.path=null", "model.language.dtype=float32"]
    typo = "model.language.config={text_config: {model_type: llama, hidden_size: 64, num_hiden_layers: 2}}"
    code = main(["validate", str(path), *cpu, typo])
    err = capsys.readouterr().err
    assert code == 2 and "model.language.config.text_config.num_hiden_layers: not a field of" in err, err
    code = main(["validate", str(path), *cpu, "model.language.config={text_config: {model_type: llama}}"])
    assert code == 0, capsys.readouterr().err
