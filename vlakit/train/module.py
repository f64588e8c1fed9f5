"""The LightningModule that trains a composed VLA."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

import lightning as L
import torch

from vlakit.errors import RecipeError
from vlakit.model import VLA, build_codec, build_vla
from vlakit.numerics import check_finite_loss
from vlakit.plugins import get_registry
from vlakit.recipes.schema import Recipe
from vlakit.types import TargetSpec


def lr_lambda(schedule: str, warmup: int, total: int):
    """Multiplier of the base learning rate at each optimizer step."""

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        if schedule == "linear":
            return 1.0 - progress
        return 1.0

    return factor


def adamw_implementation(params: Iterable[torch.nn.Parameter]) -> dict[str, bool]:
    """AdamW's fastest implementation for these parameters: ``fused`` (one kernel for every
    parameter's update; on CPU since torch 2.4) when all are plain floating-point parameters on
    one CPU or CUDA device type, ``foreach`` otherwise (sharded parameters, other devices). Both
    compute AdamW; they differ only in float rounding."""
    params = list(params)
    kinds = {p.device.type for p in params}
    plain = all(type(p) is torch.nn.Parameter and p.is_floating_point() for p in params)
    fused_cpu = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4)
    if plain and len(kinds) == 1 and (kinds == {"cuda"} or (kinds == {"cpu"} and fused_cpu)):
        return {"fused": True}
    return {"foreach": True}


def lr_scales(groups: dict[str, list[torch.nn.Parameter]], lr_scale: dict[str, float]) -> dict[int, float]:
    """``id(parameter) -> learning-rate multiplier`` for the recipe's ``trainer.lr_scale``: the
    scale of the most specific key that names the parameter's group or a prefix of it (``vision``
    covers ``vision.SUB``; 1 when none does). A key that names no group is a :class:`RecipeError`
    listing the groups."""

    def covers(key: str, group: str) -> bool:
        return group == key or group.startswith(key + ".")

    unknown = [key for key in lr_scale if not any(covers(key, group) for group in groups)]
    if unknown:
        raise RecipeError(
            f"trainer.lr_scale: {unknown} name no parameter group of this model; groups: {', '.join(groups)}"
        )
    scales: dict[int, float] = {}
    for group, params in groups.items():
        keys = [key for key in lr_scale if covers(key, group)]
        scale = lr_scale[max(keys, key=len)] if keys else 1.0
        for p in params:
            scales[id(p)] = scale
    return scales


class VLATrainingModule(L.LightningModule):
    """Builds the VLA from the recipe in :meth:`configure_model` (so FSDP can shard at creation).

    Everything needed to rebuild the model without data is in the hyperparameters: the resolved
    recipe, the fitted codec state, the cameras, the state width, the action space, the action
    statistics and the targets the data declares. A checkpoint therefore exports to a bundle on its own.
    """

    def __init__(
        self,
        recipe: dict[str, Any],
        codec_state: dict[str, Any],
        cameras: list[str],
        state_dim: int,
        action_space: dict[str, Any],
        action_stats: dict[str, Any],
        targets: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """``targets``: the training data's declared targets, {name: :class:`TargetSpec` fields}."""
        super().__init__()
        self.save_hyperparameters()
        self.recipe = Recipe.model_validate(recipe)
        self.vla: VLA | None = None

    def configure_model(self) -> None:
        if self.vla is not None:
            return
        registry = get_registry()
        codec = build_codec(self.recipe.model, registry, self.hparams.codec_state)
        targets = {
            name: TargetSpec(**{**spec, "shape": tuple(spec["shape"])})
            for name, spec in (self.hparams.get("targets") or {}).items()
        }
        self.vla = build_vla(
            self.recipe.model, registry, codec, self.hparams.cameras, self.hparams.state_dim, targets=targets
        )

    def on_fit_start(self) -> None:
        """Before the first step: a ``tail`` token mapping may not take ids that the training
        texts are written with (they would silently become action tokens)."""
        sources = getattr(getattr(self.trainer, "datamodule", None), "sources", None)
        if sources is None or self.vla is None:
            return
        template = self.recipe.model.prompt.replace("{instruction}", " ")
        self.vla.mapping.check_texts(self.vla.language.tokenizer, itertools.chain([template], sources.texts()))

    def logs_this_step(self) -> bool:
        """True on the steps whose metrics Lightning writes (every ``trainer.log_every`` steps:
        the step ``g`` with ``(g + 1) % log_every == 0``, as Lightning's ``log_every_n_steps``);
        values logged on the other steps would be discarded unwritten, so they are not logged."""
        return (self.global_step + 1) % self.recipe.trainer.log_every == 0

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self.vla(batch)
        check_finite_loss(out["loss"], self.global_step)
        if self.logs_this_step():
            b = batch["input_ids"].shape[0]
            self.log("train/loss", out["loss"], prog_bar=True, batch_size=b)
            for name, value in out["objectives"].items():
                self.log(f"train/{name}", value, batch_size=b)
            for key, value in self.vla.action_metrics(batch, out["logits"], out["labels"]).items():
                self.log(f"train/{key}", value, prog_bar=key == "action_token_acc", batch_size=b)
        return out["loss"]

    def configure_optimizers(self) -> dict[str, Any]:
        t = self.recipe.trainer
        scales = lr_scales(self.vla.parameter_groups(), t.lr_scale)
        groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
        for p in self.vla.parameters():
            if p.requires_grad:
                groups.setdefault((scales.get(id(p), 1.0), p.ndim >= 2), []).append(p)
        optimizer = torch.optim.AdamW(
            [
                {"params": params, "lr": t.lr * scale, "weight_decay": t.weight_decay if decay else 0.0}
                for (scale, decay), params in groups.items()
            ],
            lr=t.lr,
            **adamw_implementation(p for p in self.vla.parameters() if p.requires_grad),
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda(t.schedule, t.warmup_steps, t.max_steps)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
