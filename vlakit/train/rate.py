"""How fast a training run went: steps and samples per second, and where the rest of the time went."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import lightning as L


@dataclass
class TrainingRate:
    """The figures of one run. ``steps``: optimizer steps taken in this run (a resumed run counts
    from where it resumed); ``samples_per_step``: samples in one optimizer step over all
    processes (batch size x processes x accumulation); times in seconds: ``train`` from the first
    step's start to the last step's end (checkpoints saved in between included), ``prep`` (data
    sources, codec fit), ``setup`` (the rest of ``Trainer.fit``: processes, model, checkpoint
    save at the end) and ``export`` (the bundle)."""

    steps: int
    samples_per_step: int
    train: float
    prep: float = 0.0
    setup: float = 0.0
    export: float = 0.0

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.train if self.train > 0 else 0.0

    @property
    def samples_per_s(self) -> float:
        return self.steps_per_s * self.samples_per_step

    def line(self) -> str:
        """One line for the user, e.g. ``trained 8000 steps in 702 s: 11.40 steps/s (729
        samples/s); data prep 14 s, trainer setup 3 s, export 1 s``."""
        return (
            f"trained {self.steps} steps in {self.train:.0f} s: {self.steps_per_s:.2f} steps/s "
            f"({self.samples_per_s:.0f} samples/s); data prep {self.prep:.0f} s, "
            f"trainer setup {self.setup:.0f} s, export {self.export:.0f} s"
        )


class StepClock(L.Callback):
    """Times the training loop: from the start of its first batch to the end of its last."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end: float | None = None
        self.first_step = 0
        self.last_step = 0

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any) -> None:
        if self.start is None:
            self.start = time.perf_counter()
            self.first_step = trainer.global_step

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        self.end = time.perf_counter()
        self.last_step = trainer.global_step

    def rate(self, trainer: L.Trainer, batch_size: int) -> TrainingRate:
        """The figures so far; ``batch_size``: samples per process and batch."""
        per_step = batch_size * trainer.world_size * trainer.accumulate_grad_batches
        seconds = (self.end - self.start) if self.start is not None and self.end is not None else 0.0
        return TrainingRate(self.last_step - self.first_step, per_step, seconds)
