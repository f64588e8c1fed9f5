"""Training speed of two vlakit source trees, measured alternately in one command.

Each round trains the same recipe (a few hundred steps, real ``vlakit.train.run.train``: data,
Lightning, logging, checkpoint) once with each tree, alternating which goes first, and times
the steps after ``--warmup`` from inside the training loop (startup and data preparation are
not counted). Machine load hits both trees alike, so the ratio of their rates is the figure;
the absolute rates are only as good as the machine was quiet.

    python docs/experiments/train_speed_ab.py OLD_TREE NEW_TREE [--rounds 3] [--steps 150] \\
        [--set trainer.devices=2 --set trainer.strategy=ddp ...]

A tree is a checkout (``git archive <commit> | tar -x -C DIR`` makes one); it is put first on
``PYTHONPATH`` (the core and every package folder its pyproject lists), so both run in this
interpreter's environment. The default overrides are the default recipe in one process on the
small data of the test suite; pass ``trainer.devices=2 trainer.strategy=ddp`` for the main job's
two processes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib

DEFAULT_OVERRIDES = [
    "trainer.devices=1", "trainer.strategy=auto", "data.train.0.episodes=200", "data.train.1.episodes=100",
]
MARK = "AB-STEP-RATE"


def python_path(tree: Path) -> str:
    """The tree's package folders (its pyproject's ``packages.find.where``), for ``PYTHONPATH``."""
    project = tomllib.loads((tree / "pyproject.toml").read_text())
    where = project["tool"]["setuptools"]["packages"]["find"]["where"]
    return os.pathsep.join(str((tree / w).resolve()) for w in where)


def child(recipe: str, steps: int, warmup: int, run_dir: str, overrides: list[str]) -> None:
    """Train ``steps`` steps and print the step rate after ``warmup`` (rank 0 only)."""
    import lightning as L

    import vlakit.train.run as run

    class Clock(L.Callback):
        def __init__(self) -> None:
            self.times: list[tuple[float, float]] = []

        def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
            self.times.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, trainer: L.Trainer, *args: object) -> None:
            if trainer.is_global_zero and len(self.times) > warmup + 1:
                (wall0, cpu0), (wall1, cpu1) = self.times[warmup], self.times[-1]
                n = len(self.times) - warmup - 1
                print(f"{MARK} {n / (wall1 - wall0):.4f} {n / (cpu1 - cpu0):.4f}", flush=True)

    build = run.build_trainer

    def build_with_clock(*args: object, **kwargs: object) -> L.Trainer:
        kwargs.pop("callbacks", None)
        trainer = build(*args, **kwargs)
        trainer.callbacks.append(Clock())
        return trainer

    run.build_trainer = build_with_clock
    run.train(recipe, [f"trainer.max_steps={steps}", "trainer.warmup_steps=10", *overrides],
              run_dir=run_dir, progress=False)


def one_run(tree: Path, args: argparse.Namespace, overrides: list[str]) -> tuple[float, float]:
    """Steps per second of wall time and per second of this process's CPU time (rank 0's: what
    load from other programs distorts least) of one training run with ``tree``'s code."""
    env = {**os.environ, "PYTHONPATH": python_path(tree)}
    env.pop("VLAKIT_RUN_DIR", None)
    with tempfile.TemporaryDirectory() as run_dir:
        cmd = [sys.executable, __file__, "--child", args.recipe, "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--run-dir", run_dir, *(f"--set={o}" for o in overrides)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            return float(line.split()[1]), float(line.split()[2])
    raise RuntimeError(f"{tree}: no rate (exit {done.returncode}):\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("old", type=Path, nargs="?")
    parser.add_argument("new", type=Path, nargs="?")
    parser.add_argument("--recipe", default="recipes/tabletop-tiny.yaml")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per training run")
    parser.add_argument("--child", metavar="RECIPE")
    parser.add_argument("--run-dir")
    parser.add_argument("--set", action="append", default=[], help="a dotted recipe override (repeatable)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps, args.warmup, args.run_dir, args.set)
        return
    overrides = args.set or DEFAULT_OVERRIDES
    trees = {"old": args.old, "new": args.new}
    wall: dict[str, list[float]] = {"old": [], "new": []}
    cpu: dict[str, list[float]] = {"old": [], "new": []}
    for r in range(args.rounds):
        for name in ["old", "new"] if r % 2 == 0 else ["new", "old"]:
            w, c = one_run(trees[name], args, overrides)
            wall[name].append(w)
            cpu[name].append(c)
        print(f"round {r + 1}: steps/s of wall time old {wall['old'][-1]:.2f} new {wall['new'][-1]:.2f} "
              f"(new/old {wall['new'][-1] / wall['old'][-1]:.3f}); per CPU second old {cpu['old'][-1]:.2f} "
              f"new {cpu['new'][-1]:.2f} (new/old {cpu['new'][-1] / cpu['old'][-1]:.3f})", flush=True)
    for label, rates in (("wall", wall), ("cpu", cpu)):
        ratios = [n / o for n, o in zip(rates["new"], rates["old"])]
        print(f"{label}: median old {statistics.median(rates['old']):.2f} new {statistics.median(rates['new']):.2f} "
              f"steps/s; new/old per round {', '.join(f'{x:.3f}' for x in ratios)}; "
              f"median ratio {statistics.median(ratios):.3f}")

if __name__ == "__main__":
    main()
