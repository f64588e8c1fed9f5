"""Exporting a trained VLA as a bundle (merged weights, or adapters plus a reference to the base)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file, save_model

from vlakit.errors import BundleError
from vlakit.model import VLA
from vlakit.policy.bundle import write_bundle
from vlakit.recipes.schema import Recipe


def export_vla(
    directory: str | Path,
    vla: VLA,
    recipe: Recipe,
    robot: dict[str, Any],
    mode: str | None = None,
) -> Path:
    """Write ``vla`` as a bundle. ``mode`` (default: the recipe's ``trainer.export``):

    ``merged``: LoRA (if any) is merged into the base weights and the whole model is saved; the
    bundle's recipe has LoRA removed. ``adapters``: only the parameters training changed (LoRA,
    action-token rows, projector, ...) are saved; loading rebuilds the base from the recipe's
    ``path`` (so the base must be a local checkpoint, not an inline config).
    """
    mode = mode or recipe.trainer.export
    data = copy.deepcopy(recipe.to_dict())
    language = vla.language
    if mode == "merged":
        if getattr(language, "lora_applied", False):
            vla = copy.deepcopy(vla)
            vla.language.merge_lora()
            data["model"]["language"]["lora"] = None

        def write(path: Path) -> None:
            save_model(vla, str(path))

    elif mode == "adapters":
        if not data["model"]["language"].get("path"):
            raise BundleError(
                "export mode 'adapters' needs a language model loaded from a local `path` "
                "(an inline config has no base weights to refer to); use trainer.export=merged"
            )

        def write(path: Path) -> None:
            tensors = {
                name: p.detach().to(torch.float32 if p.is_floating_point() else p.dtype).contiguous().clone()
                for name, p in vla.named_parameters()
                if p.requires_grad
            }
            save_file(tensors, str(path))

    else:
        raise BundleError(f"unknown export mode {mode!r} (merged or adapters)")
    return write_bundle(
        directory,
        write,
        recipe=data,
        codec=vla.codec.state_dict(),
        mapping=vla.mapping.to_dict(),
        robot=robot,
        tokenizer=language.tokenizer,
        export_mode=mode,
    )
