"""Mapping the recipe's trainer block onto a Lightning Trainer."""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger

from vlakit.errors import RecipeError
from vlakit.recipes.schema import TrainerSection


class _LightningAdvert(logging.Filter):
    """Drops Lightning's tip to install its cloud logger, printed at every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


_ADVERT = _LightningAdvert()


def quiet_lightning() -> None:
    """Keep out of a run's output what a vlakit user can do nothing about: Lightning's advert
    for its cloud logger, and the FutureWarning its own code raises with recent torch (2.14 here)
    (``LeafSpec``). Everything else Lightning says is kept."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _ADVERT not in rank_zero.filters:
        rank_zero.addFilter(_ADVERT)
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning, module="lightning"
    )


def strategy_for(section: TrainerSection) -> Any:
    """The Lightning strategy for ``trainer.strategy`` (deepspeed only where installed).

    Every distributed strategy keeps its rendezvous on loopback for single-node runs
    (:class:`~vlakit.train.rendezvous.LoopbackRendezvous`); ``ddp`` and ``ddp_spawn`` also skip
    per-step work that changes nothing (:class:`~vlakit.train.ddp.LeanDDPStrategy`).
    """
    if section.strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        raise RecipeError("trainer.strategy: 'deepspeed' needs the deepspeed package (pip install deepspeed)")
    if section.strategy == "fsdp":
        from vlakit.train.rendezvous import LoopbackFSDPStrategy

        return LoopbackFSDPStrategy()
    if section.strategy == "deepspeed":
        from vlakit.train.rendezvous import loopback_deepspeed_strategy

        return loopback_deepspeed_strategy()
    if section.strategy in ("ddp", "ddp_spawn"):
        from vlakit.train.ddp import LeanDDPStrategy

        launcher = "spawn" if section.strategy == "ddp_spawn" else "popen"
        backend = "gloo" if section.accelerator == "cpu" else None  # None: Lightning's choice (nccl on GPUs)
        return LeanDDPStrategy(process_group_backend=backend, start_method=launcher)
    return section.strategy


def loggers_for(run_dir: Path) -> list[Any]:
    """CSV logs always; TensorBoard too when it is installed."""
    loggers: list[Any] = [CSVLogger(str(run_dir), name="logs", version="")]
    if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(run_dir), name="tensorboard", version=""))
    return loggers


def build_trainer(
    section: TrainerSection, run_dir: Path, progress: bool = True, callbacks: Sequence[L.Callback] = ()
) -> L.Trainer:
    """A Trainer for ``section`` writing logs and checkpoints under ``run_dir``, with ``callbacks``
    added to its own."""
    quiet_lightning()
    every = section.checkpoint_every or section.max_steps
    checkpoint = ModelCheckpoint(
        dirpath=str(run_dir / "checkpoints"),
        filename="step-{step}",
        every_n_train_steps=every,
        save_top_k=-1,
        save_last=True,
        auto_insert_metric_name=False,
    )
    every_callback: list[Any] = [checkpoint, *callbacks]
    if progress:
        every_callback.append(TQDMProgressBar(refresh_rate=max(1, section.log_every // 2)))
    return L.Trainer(
        max_steps=section.max_steps,
        accelerator=section.accelerator,
        devices=section.devices,
        num_nodes=section.num_nodes,
        strategy=strategy_for(section),
        precision=section.precision,
        accumulate_grad_batches=section.accumulate_grad_batches,
        gradient_clip_val=section.gradient_clip,
        log_every_n_steps=section.log_every,
        logger=loggers_for(run_dir),
        callbacks=every_callback,
        default_root_dir=str(run_dir),
        enable_progress_bar=progress,
        enable_model_summary=False,
        use_distributed_sampler=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        deterministic=False,
    )
