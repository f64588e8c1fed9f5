"""How a training ends when it does not finish: Ctrl-C exits 130 with nothing half written, and a
second training into a run directory in use is refused instead of interleaving with the first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from child_signals import sigint_as_in_a_terminal
from test_training import TINY_LLAMA, make_recipe

from vlakit.cli.main import main
from vlakit.train.lock import run_dir_lock

pytest.importorskip("vlakit_tabletop")


class Output:
    """Collects a pipe's bytes in a thread (tqdm writes ``\\r``, not lines)."""

    def __init__(self, pipe) -> None:
        self.text = ""
        self._pipe = pipe
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for chunk in iter(lambda: os.read(self._pipe.fileno(), 4096), b""):
            self.text += chunk.decode(errors="replace")

    def wait_for(self, needle: str, process: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            assert process.poll() is None, f"exited {process.returncode}: {self.text[-2000:]}"
            assert time.monotonic() < deadline, f"no {needle!r} within {timeout} s: {self.text[-2000:]}"
            time.sleep(0.1)

    def close(self) -> str:
        self._thread.join(10)
        return self.text


@pytest.mark.slow
def test_ctrl_c_exits_130_and_a_second_training_into_the_run_dir_is_refused(tmp_path: Path, capsys) -> None:
    """End to end, on `vlakit train` processes."""
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 100000, "log_every": 50})
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("VLAKIT_RUN_DIR", None)
    argv = [sys.executable, "-m", "vlakit", "train", str(recipe), "--no-eval", "--run-dir", str(run)]
    first = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, preexec_fn=sigint_as_in_a_terminal
    )
    err = Output(first.stdout)
    try:
        err.wait_for("Epoch 0:", first, timeout=240)
        assert main(["train", str(recipe), "--no-eval", "--run-dir", str(run)]) == 2
        refused = capsys.readouterr().err
        assert f"run directory {run} is in use by another training (pid {first.pid})" in refused
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=120) == 130
    finally:
        if first.poll() is None:
            first.kill()
    text = err.close()
    assert "aborted" in text and "Traceback" not in text
    assert not (run / "bundle").exists()
    leftovers = [p for p in run.rglob("*") if ".tmp" in p.name or p.name.startswith(".bundle")]
    assert leftovers == []
    with run_dir_lock(run):  # released with the process
        pass


def test_a_run_dir_locked_by_another_process_is_refused(tmp_path: Path, capsys) -> None:
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 1})
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["train", str(recipe), "--no-eval", "--run-dir", str(run)]) == 2
        err = capsys.readouterr().err
        assert f"run directory {run} is in use by another training (pid {holder.pid})" in err
        assert sorted(p.name for p in run.iterdir()) == [".lock"], "nothing written into the other's run"
    finally:
        holder.communicate("", timeout=30)
    with run_dir_lock(run):  # the kernel released it with the process
        pass


HOLD_LOCK = """
import sys
from pathlib import Path
from vlakit.train.lock import run_dir_lock
with run_dir_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_ctrl_c_inside_lightnings_fit_is_a_keyboard_interrupt() -> None:
    """Lightning answers Ctrl-C with ``sys.exit(1)`` and ignores SIGINT afterwards; the run
    raises KeyboardInterrupt instead (exit 130) and restores Ctrl-C."""
    import lightning as L
    import torch

    from vlakit.train.run import fit_or_interrupt

    class Interrupted(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            if batch_idx == 1:
                raise KeyboardInterrupt
            return self.layer(batch[0]).sum()

        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(8, 2)), batch_size=2)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    trainer = L.Trainer(max_steps=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    with pytest.raises(KeyboardInterrupt):
        fit_or_interrupt(trainer, Interrupted(), None, None)
    assert trainer.interrupted and signal.getsignal(signal.SIGINT) is signal.default_int_handler


DDP_WORKER_EXITS = """
import os, sys
import lightning as L
import torch
from vlakit.train.ddp import LeanDDPStrategy

if os.environ.get("LOCAL_RANK") == "1":
    sys.exit(int(sys.argv[1]))  # a Ctrl-C (130) or a failure landing in rank 1 before the ranks meet


class Probe(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 2)), batch_size=2)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


strategy = LeanDDPStrategy(process_group_backend="gloo", start_method="popen")
trainer = L.Trainer(max_steps=1, accelerator="cpu", devices=2, strategy=strategy, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Probe())
print("rank 0 trained without rank 1", flush=True)
"""


@pytest.mark.parametrize("code", [130, 3])
def test_a_ddp_worker_ending_before_the_ranks_meet_ends_the_run_with_its_code(tmp_path: Path, code: int) -> None:
    """Rank 0 waits in the rendezvous, where its Ctrl-C cannot act; Lightning's watcher ended it
    with SIGKILL (exit -9, "Killed"). Now it exits with the worker's code (130: interrupted)."""
    script = tmp_path / "ddp_worker_exits.py"
    script.write_text(DDP_WORKER_EXITS)
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1"}
    for key in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_PORT"):
        env.pop(key, None)
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script), str(code)], capture_output=True, text=True, env=env,
                          timeout=180, cwd=tmp_path)
    assert done.returncode == code, done.stderr[-3000:]
    reason = "was interrupted" if code == 130 else f"exited with code {code}"
    assert f"training process of rank 1 {reason}" in done.stderr
    assert "rank 0 trained" not in done.stdout
    assert time.monotonic() - started < 120


DDP_WORKERS_EARLY = """
import os, sys, time
from pathlib import Path
import lightning as L
from vlakit.train.ddp import LeanDDPStrategy
from vlakit.train.launcher import workers_started_early

marker = Path(sys.argv[1])
if os.environ.get("LOCAL_RANK") == "1":
    marker.write_text(str(os.getpid()))  # this worker prepares its data (a long time) ...
    time.sleep(120)
    sys.exit(0)

strategy = LeanDDPStrategy(process_group_backend="gloo", start_method="popen")
trainer = L.Trainer(max_steps=1, accelerator="cpu", devices=2, strategy=strategy, logger=False,
                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
try:
    with workers_started_early(trainer):
        deadline = time.monotonic() + 60  # ... while rank 0 prepares its own
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "the worker did not start before rank 0's preparation ended"
            time.sleep(0.1)
        raise RuntimeError("rank 0's data is broken")
except RuntimeError as exc:
    print(exc, flush=True)
try:
    os.kill(int(marker.read_text()), 0)
    print("the worker still runs", flush=True)
except ProcessLookupError:
    print("the worker was killed", flush=True)
"""


def test_ddp_workers_start_while_rank_0_prepares_and_die_with_its_failure(tmp_path: Path) -> None:
    """The other ranks start before rank 0 prepares its data (they prepared theirs after it,
    serially, when Lightning started them inside ``fit``); an error in rank 0 before the ranks
    meet kills them (they would otherwise wait for it in the rendezvous)."""
    script = tmp_path / "ddp_workers_early.py"
    script.write_text(DDP_WORKERS_EARLY)
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1"}
    for key in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_PORT"):
        env.pop(key, None)
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "worker.pid")], capture_output=True,
                          text=True, env=env, timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["rank 0's data is broken", "the worker was killed"], done.stderr[-3000:]


def test_a_data_error_in_a_ddp_run_is_reported_once_and_stops_every_rank(tmp_path: Path) -> None:
    """The other ranks start before rank 0 prepares its data; rank 0's user error (here an image
    a VQA record names is missing) ends the run with exit 2 and one message."""
    records = [{"id": "q0", "image": "missing.png",
                "conversations": [{"from": "human", "value": "what colour?"}, {"from": "gpt", "value": "red"}]}]
    (tmp_path / "vqa.json").write_text(json.dumps(records))
    recipe = make_recipe(tmp_path, TINY_LLAMA, trainer={"max_steps": 2, "strategy": "ddp", "devices": 2})
    data = yaml.safe_load(recipe.read_text())
    data["data"]["train"].append({"type": "vqa-json", "path": str(tmp_path / "vqa.json"), "weight": 0.5})
    recipe.write_text(yaml.safe_dump(data))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("VLAKIT_RUN_DIR", "LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_PORT"):
        env.pop(key, None)
    done = subprocess.run([sys.executable, "-m", "vlakit", "train", str(recipe), "--no-eval", "--run-dir",
                           str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.count("missing.png does not exist") == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "training process of rank 1" not in done.stderr


def test_worker_exit_codes() -> None:
    from vlakit.train.launcher import exit_code_of

    assert exit_code_of(130) == 130 and exit_code_of(-signal.SIGINT) == 130
    assert exit_code_of(-signal.SIGKILL) == 137 and exit_code_of(2) == 2
