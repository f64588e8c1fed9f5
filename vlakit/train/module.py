"""The LightningModule that trains a composed VLA."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from vlakit.model import VLA, build_codec, build_vla
from vlakit.numerics import check_finite_loss
from vlakit.plugins import get_registry
from vlakit.recipes.schema import Recipe


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


class VLATrainingModule(L.LightningModule):
    """Builds the VLA from the recipe in :meth:`configure_model` (so FSDP can shard at creation).

    Everything needed to rebuild the model without data is in the hyperparameters: the resolved
    recipe, the fitted codec state, the cameras, the state width, the action space and the action
    statistics. A checkpoint therefore exports to a bundle on its own.
    """

    def __init__(
        self,
        recipe: dict[str, Any],
        codec_state: dict[str, Any],
        cameras: list[str],
        state_dim: int,
        action_space: dict[str, Any],
        action_stats: dict[str, Any],
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.recipe = Recipe.model_validate(recipe)
        self.vla: VLA | None = None

    def configure_model(self) -> None:
        if self.vla is not None:
            return
        registry = get_registry()
        codec = build_codec(self.recipe.model, registry, self.hparams.codec_state)
        self.vla = build_vla(self.recipe.model, registry, codec, self.hparams.cameras, self.hparams.state_dim)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        out = self.vla(batch)
        check_finite_loss(out["loss"], self.global_step)
        b = batch["input_ids"].shape[0]
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=b)
        if "aim_l1" in out:
            self.log("train/aim_l1", out["aim_l1"], batch_size=b)
        for name, value in out.get("auxiliary", {}).items():
            self.log(f"train/{name}", value, batch_size=b)
        step = self.global_step
        if step % self.recipe.trainer.log_every == 0:
            for key, value in self.vla.action_metrics(batch, out["logits"], out["labels"]).items():
                self.log(f"train/{key}", value, prog_bar=key == "action_token_acc", batch_size=b)
        return out["loss"]

    def configure_optimizers(self) -> dict[str, Any]:
        t = self.recipe.trainer
        groups: dict[tuple[float, bool], list[torch.nn.Parameter]] = {}
        for name, p in self.vla.named_parameters():
            if p.requires_grad:
                scale = t.lr_scale.get(name.split(".", 1)[0], 1.0)
                groups.setdefault((scale, p.ndim >= 2), []).append(p)
        optimizer = torch.optim.AdamW(
            [
                {"params": params, "lr": t.lr * scale, "weight_decay": t.weight_decay if decay else 0.0}
                for (scale, decay), params in groups.items()
            ],
            lr=t.lr,
        )
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_lambda(t.schedule, t.warmup_steps, t.max_steps)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
