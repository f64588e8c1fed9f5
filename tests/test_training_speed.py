"""What a training run reports about its speed, and that logging less often changes no figure."""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import pytest
import torch
from test_training import TINY_LLAMA, make_recipe

from vlakit.cli.main import main
from vlakit.train.rate import TrainingRate
from vlakit.train.run import train

RATE_LINE = re.compile(
    r"trained (\d+) steps in \d+ s: ([\d.]+) steps/s \((\d+) samples/s\); "
    r"data prep \d+ s, trainer setup -?\d+ s, export \d+ s"
)


def test_rate_line_says_steps_samples_and_where_the_rest_went():
    rate = TrainingRate(steps=8000, samples_per_step=64, train=702.0, prep=14.2, setup=3.0, export=0.6)
    assert rate.steps_per_s == 8000 / 702.0 and rate.samples_per_s == 64 * 8000 / 702.0
    assert rate.line() == (
        "trained 8000 steps in 702 s: 11.40 steps/s (729 samples/s); data prep 14 s, trainer setup 3 s, export 1 s"
    )
    assert TrainingRate(steps=0, samples_per_step=64, train=0.0).steps_per_s == 0.0


def test_vlakit_train_prints_the_rate_it_achieved(tmp_path, capsys):
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 3, "batch_size": 4})
    assert main(["train", str(recipe), "--run-dir", str(tmp_path / "run"), "--no-eval"]) == 0
    out = capsys.readouterr().out
    found = RATE_LINE.search(out)
    assert found, out
    steps, per_s, samples = int(found[1]), float(found[2]), int(found[3])
    assert steps == 3
    assert abs(samples - 4 * per_s) <= 1  # one process, 4 samples a step


def rows(path) -> dict[int, dict[str, str]]:
    with open(path) as f:
        return {int(row["step"]): row for row in csv.DictReader(f)}


def test_logging_every_n_steps_writes_the_same_figures_as_every_step(tmp_path):
    """Logging only the steps Lightning writes changes no figure: each row written with
    ``log_every: 2`` (loss, objectives, action metrics) equals the same step's row written with
    ``log_every: 1``, so the training itself is untouched by how often it logs."""
    vision = {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2], "readout": "keypoints",
              "flat_tokens": 2, "film_dim": 8, "relate": 1}
    objectives = [{"type": "aim-point", "weight": 2.0}, {"type": "keypoint-map", "target": "aim", "weight": 0.5}]
    model = {"use_state": True, "objectives": objectives}
    every = {}
    for n in (1, 2):
        recipe = make_recipe(tmp_path, TINY_LLAMA, vision=vision, model=model,
                             trainer={"max_steps": 4, "log_every": n, "warmup_steps": 0})
        result = train(recipe, run_dir=tmp_path / f"every-{n}", progress=False)
        every[n] = rows(result.run_dir / "logs" / "metrics.csv")
    assert sorted(every[1]) == [0, 1, 2, 3] and sorted(every[2]) == [1, 3]
    for step, row in every[2].items():
        assert row["train/action_token_acc"] != "" and row["train/aim_l1"] != ""
        assert row == every[1][step], step


def test_ddp_broadcasts_buffers_only_for_models_with_training_state():
    """Persistent buffers (BatchNorm statistics) are state DDP must keep equal across ranks;
    non-persistent ones are constants, and tied weights are parameters, not state."""
    from torch import nn

    from vlakit.train.ddp import has_training_state

    class Constants(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(3, 3)
            self.register_buffer("grid", torch.zeros(4, 2), persistent=False)

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(5, 3)
            self.head = nn.Linear(3, 5, bias=False)
            self.head.weight = self.embed.weight

    assert not has_training_state(Constants())
    assert not has_training_state(Tied())
    assert has_training_state(nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)))


@pytest.mark.parametrize("batch_norm", [False, True])
def test_ddp_syncs_buffers_per_step_only_for_training_state_and_without_a_deprecation_warning(
    batch_norm, ddp_in_this_process
):
    """torch's DDP warns that ``broadcast_buffers`` is deprecated (twice in every default run)."""
    import warnings

    import lightning as L
    from torch import nn

    from vlakit.train.ddp import LeanDDPStrategy

    class Probe(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(2, 2), *([nn.BatchNorm1d(2)] if batch_norm else []))

        def training_step(self, batch, batch_idx):
            self.synced = self.trainer.strategy.model.forward_sync_buffers  # the DDP wrapper's
            return self.net(batch[0]).sum()

        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)), batch_size=2)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    probe = Probe()
    strategy = LeanDDPStrategy(process_group_backend="gloo", start_method="popen")
    trainer = L.Trainer(max_steps=1, accelerator="cpu", devices=1, strategy=strategy, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(probe)
    assert not [w for w in caught if "broadcast_buffers" in str(w.message)]
    assert probe.synced is batch_norm


def test_the_conditioner_reads_the_prompt_columns_only(tmp_path):
    """The training targets that follow the prompt are cut from what the conditioner reads (they
    were only masked before): it gets the columns up to the last prompt token of any row, and
    gives the condition it gave on the whole masked sequence."""
    from test_training import module_for

    from vlakit.data.collate import IGNORE
    from vlakit.interfaces import Conditioning

    vision = {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2], "readout": "flat",
              "flat_tokens": 2, "film_dim": 8}
    module, batch = module_for(make_recipe(tmp_path, TINY_LLAMA, vision=vision, model={"use_state": True}))
    vla = module.vla.eval()
    seen: list[Conditioning] = []
    vla.conditioner.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    with torch.no_grad():
        vla(batch)
    prompt = batch["attention_mask"].bool() & (batch["labels"] == IGNORE)
    width = int(prompt.any(0).nonzero().max()) + 1
    assert width < batch["input_ids"].shape[1], "the batch has target columns after every prompt"
    (cut,) = seen
    assert cut.prompt_embeds.shape[1] == cut.prompt_mask.shape[1] == width
    with torch.no_grad():
        whole = vla.conditioner(Conditioning(vla.language.embed_tokens(batch["input_ids"]), prompt.long(),
                                             cut.state_embeds))
        torch.testing.assert_close(vla.conditioner(cut), whole, atol=1e-5, rtol=1e-4)


def test_adamw_runs_fused_where_torch_has_it():
    from vlakit.train.module import adamw_implementation

    cpu = [torch.nn.Parameter(torch.zeros(2))]
    fused_on_cpu = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4)
    assert adamw_implementation(cpu) == ({"fused": True} if fused_on_cpu else {"foreach": True})
    assert adamw_implementation([torch.nn.Parameter(torch.zeros(2, device="meta"))]) == {"foreach": True}


FAULTS_PER_STEP = """
import resource, sys
import numpy as np
from vlakit.train.allocator import keep_freed_memory
if sys.argv[1] == "keep" and not keep_freed_memory():
    print("not glibc")
    sys.exit(0)

def step():  # like a training step: 64 buffers of 1 MiB written, then all freed
    buffers = [np.ones(1 << 17) for _ in range(64)]
    del buffers

step()
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 5)
"""


def test_a_training_process_reuses_freed_memory_instead_of_faulting_it_in_again():
    """With :func:`keep_freed_memory`, a step's freed buffers serve the next step: glibc's default
    gives the top of its heap back to the kernel and the next step faults each page in again
    (16,384 pages of 4 KiB here; about 60,000 faults a second in the default recipe's DDP runs)."""
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP, "keep"], capture_output=True, text=True, check=True)
    if out.stdout.strip() == "not glibc":
        pytest.skip("malloc is not glibc's here")
    assert int(out.stdout) < 16384 // 20, out.stdout


TRAIN_FOUR_STEPS = """
import sys
import vlakit.train.run as run
if sys.argv[2] == "default":
    run.keep_freed_memory = lambda: False
run.train(sys.argv[1], run_dir=sys.argv[3], progress=False)
"""


def test_keeping_freed_memory_changes_no_figure(tmp_path):
    """Training computes the same losses with glibc's default allocator settings and with
    :func:`keep_freed_memory` (which ``train`` applies)."""
    vision = {"type": "convnet", "img_size": 32, "channels": [8, 16], "strides": [2, 2], "readout": "keypoints",
              "flat_tokens": 2, "film_dim": 8, "relate": 1}
    objectives = [{"type": "aim-point", "weight": 2.0}, {"type": "keypoint-map", "target": "aim", "weight": 0.5}]
    recipe = make_recipe(tmp_path, TINY_LLAMA, vision=vision, model={"use_state": True, "objectives": objectives},
                         trainer={"max_steps": 4, "warmup_steps": 0})
    figures = {}
    for how in ("default", "keep"):
        run = tmp_path / how
        subprocess.run([sys.executable, "-c", TRAIN_FOUR_STEPS, str(recipe), how, str(run)], check=True,
                       capture_output=True)
        figures[how] = rows(run / "logs" / "metrics.csv")
    assert sorted(figures["keep"]) == [0, 1, 2, 3]
    assert figures["keep"] == figures["default"]


def test_the_recipes_thread_count_ends_with_training(tmp_path):
    """``trainer.num_threads`` holds while training; the evaluation that ``vlakit train`` runs
    afterwards in the same process gets the thread count it had before (both cores, 14.5 -> 11.8 s
    for the main job's 1,500 episodes)."""
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1, "num_threads": 1})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(recipe, run_dir=tmp_path / "run", progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
