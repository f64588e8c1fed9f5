"""One training run: resolve the recipe, prepare data, fit the codec, train, export the bundle."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning as L
import yaml

from vlakit.environ import environ_set, torch_threads
from vlakit.errors import CheckpointError
from vlakit.io import atomic_write_text
from vlakit.model import build_codec
from vlakit.plugins import get_registry
from vlakit.policy.export import export_vla
from vlakit.recipes.preflight import preflight_recipe
from vlakit.recipes.schema import Recipe
from vlakit.train.allocator import keep_freed_memory
from vlakit.train.checkpoint import checkpoint_hparams, read_checkpoint
from vlakit.train.datamodule import MixtureDataModule
from vlakit.train.launcher import workers_started_early
from vlakit.train.lock import run_dir_lock
from vlakit.train.module import VLATrainingModule
from vlakit.train.rate import StepClock, TrainingRate
from vlakit.train.sources import Sources, build_sources, fit_codec, fit_language_block
from vlakit.train.trainer import build_trainer

RUN_DIR_ENV = "VLAKIT_RUN_DIR"


@dataclass
class TrainResult:
    """``seconds``: the whole call; ``rate``: steps and samples per second and where the rest went."""

    run_dir: Path
    bundle: Path | None
    seconds: float
    recipe: Recipe
    rate: TrainingRate | None = None


def new_run_dir(recipe: Recipe) -> Path:
    """``runs/<name>/<timestamp>``, shared with DDP child processes through the environment."""
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(recipe.output_dir) / recipe.name / stamp
    n = 1
    while path.exists():
        n += 1
        path = Path(recipe.output_dir) / recipe.name / f"{stamp}-{n}"
    return path


def robot_info(module: VLATrainingModule) -> dict[str, Any]:
    """What a bundle records about the robot side: action space, cameras, state, statistics."""
    h = module.hparams
    return {
        "action_space": h.action_space,
        "cameras": list(h.cameras),
        "state_dim": h.state_dim if module.recipe.model.use_state else 0,
        "action_stats": h.action_stats,
        "horizon": module.vla.codec.horizon,
    }


def train(
    recipe_path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    resume: str | Path | None = None,
    run_dir: str | Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train the recipe and export its bundle into ``<run_dir>/bundle``."""
    start = time.perf_counter()
    recipe = preflight_recipe(recipe_path, overrides)  # every check that needs no data, first
    t = recipe.trainer
    keep_freed_memory()  # every step reuses the last one's buffers instead of faulting them in again
    L.seed_everything(t.seed, workers=True, verbose=False)
    run = Path(run_dir) if run_dir else new_run_dir(recipe)
    # DDP child processes re-run this command: the same run dir; and Lightning's DDP launcher
    # sets every process to cores / processes threads unless OMP_NUM_THREADS says otherwise
    settings = {RUN_DIR_ENV: str(run), **({"OMP_NUM_THREADS": str(t.num_threads)} if t.num_threads else {})}
    # the recipe's thread count is its training processes'; what follows (evaluation) has the process's
    with torch_threads(t.num_threads), environ_set(settings):
        return _train_in(run, recipe, resume, progress, start)


def prepare_training(
    recipe: Recipe, codec_state: dict[str, Any] | None = None
) -> tuple[VLATrainingModule, Sources]:
    """Prepare the recipe's data sources, fit its codec (or load ``codec_state``) and what its
    language block learns from the texts, and make the LightningModule (its model is built later,
    in ``configure_model``; ``module.recipe`` is the fitted recipe)."""
    registry = get_registry()
    codec = build_codec(recipe.model, registry)
    sources = build_sources(recipe, registry, codec.horizon)
    recipe = fit_language_block(recipe, registry, sources)
    if codec_state is not None:
        codec.load_state_dict(codec_state)
    else:
        fit_codec(codec, sources)
    module = VLATrainingModule(
        recipe=recipe.to_dict(),
        codec_state=codec.state_dict(),
        cameras=sources.cameras,
        state_dim=sources.state_dim,
        action_space=sources.action_space.to_dict(),
        action_stats=sources.action_stats(),
        targets={name: {**asdict(spec), "shape": list(spec.shape)} for name, spec in sources.targets.items()},
    )
    return module, sources


def _train_in(run: Path, recipe: Recipe, resume: str | Path | None, progress: bool, start: float) -> TrainResult:
    codec_state = None
    if resume is not None:  # read (and refused when hostile) before anything is written
        codec_state = checkpoint_hparams(read_checkpoint(resume, mmap=True), resume)["codec_state"]
    with run_dir_lock(run):
        return _train_locked(run, recipe, resume, codec_state, progress, start)


def fit_or_interrupt(
    trainer: L.Trainer, module: VLATrainingModule, data: MixtureDataModule, resume: str | Path | None
) -> None:
    """``trainer.fit``; Ctrl-C raises :class:`KeyboardInterrupt` (exit 130), not Lightning's exit 1.

    Lightning answers Ctrl-C with its own shutdown, ignores SIGINT from then on and calls
    ``sys.exit(1)``; the default SIGINT handling is restored here.
    """
    try:
        # weights_only: Lightning reads the checkpoint again, also without unpickling arbitrary objects
        trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None, weights_only=True)
    except SystemExit:
        if not trainer.interrupted:
            raise
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.default_int_handler)
        raise KeyboardInterrupt from None


def _train_locked(
    run: Path,
    recipe: Recipe,
    resume: str | Path | None,
    codec_state: dict[str, Any] | None,
    progress: bool,
    start: float,
) -> TrainResult:
    t = recipe.trainer
    atomic_write_text(run / "recipe.yaml", yaml.safe_dump(recipe.to_dict(), sort_keys=False))

    setup_start = time.perf_counter()
    clock = StepClock()
    trainer = build_trainer(t, run, progress=progress, callbacks=[clock])
    prep_start = time.perf_counter()
    # DDP's other ranks start now and prepare their data while this process prepares its own
    with workers_started_early(trainer):
        module, sources = prepare_training(recipe, codec_state)
        data = MixtureDataModule(sources, t.batch_size, recipe.data.num_workers, recipe.data.seed)
        fit_start = time.perf_counter()
        fit_or_interrupt(trainer, module, data, resume)
    export_start = time.perf_counter()
    bundle = None
    if trainer.is_global_zero:
        bundle = export_vla(run / "bundle", module.vla, module.recipe, robot_info(module))
    rate = clock.rate(trainer, t.batch_size)
    rate.prep = fit_start - prep_start
    rate.setup = export_start - fit_start - rate.train + (prep_start - setup_start)
    rate.export = time.perf_counter() - export_start
    return TrainResult(run, bundle, time.perf_counter() - start, module.recipe, rate)


def export_checkpoint(checkpoint: str | Path, output: str | Path) -> Path:
    """Re-export a training checkpoint as a bundle (read with ``weights_only``: no pickle)."""
    ckpt = read_checkpoint(checkpoint)
    module = VLATrainingModule(**checkpoint_hparams(ckpt, checkpoint))
    module.configure_model()
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{checkpoint}: weights do not fit its recipe's model: {str(exc).splitlines()[0]}") from None
    return export_vla(output, module.vla, module.recipe, robot_info(module))
