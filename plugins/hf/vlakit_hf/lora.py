"""LoRA adapters through peft, injected in place (the module tree keeps its names)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from vlakit_hf.config import LoraSettings

ADAPTER = "default"


def _is_linear(module: nn.Module) -> bool:
    """``nn.Linear`` or transformers' ``Conv1D`` (GPT-2 style, a transposed linear layer)."""
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def lora_targets(model: nn.Module, settings: LoraSettings, scope: str = "", exclude: tuple[nn.Module, ...] = ()) -> list[str]:
    """Full names of the linear layers under ``scope`` (a module-name prefix) that LoRA adapts.

    ``settings.target_modules`` is ``all-linear`` or a list of last name components
    (``q_proj``) or full names; modules in ``exclude`` (the LM head) are never adapted.
    """
    wanted = None if settings.target_modules == "all-linear" else set(settings.target_modules)
    skip = {id(m) for m in exclude}
    names = []
    for name, module in model.named_modules():
        if not _is_linear(module) or id(module) in skip:
            continue
        if scope and not name.startswith(scope):
            continue
        if wanted is None or name.rsplit(".", 1)[-1] in wanted or name in wanted:
            names.append(name)
    if not names:
        what = "linear layers" if wanted is None else f"linear layers named {sorted(wanted)}"
        raise ValueError(f"LoRA found no {what} to adapt{f' under {scope!r}' if scope else ''}")
    return names


def inject_lora(model: nn.Module, settings: LoraSettings, targets: list[str]) -> None:
    """Add LoRA adapters to ``targets`` of ``model`` in place and freeze every other weight."""
    from peft import LoraConfig, inject_adapter_in_model

    modules = dict(model.named_modules())
    conv1d = any(type(modules[name]).__name__ == "Conv1D" for name in targets)
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        bias="none",
        fan_in_fan_out=conv1d,
    )
    inject_adapter_in_model(config, model, adapter_name=ADAPTER)
    for name, param in model.named_parameters():
        param.requires_grad_(is_lora_param(name))


def is_lora_param(name: str) -> bool:
    """True for the parameters peft adds (``...lora_A.default.weight`` and similar)."""
    return ".lora_" in name or name.startswith("lora_")


@torch.no_grad()
def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of ``model`` as if it had no adapters: deltas folded into the base weights.

    Keys are the original transformers names (``...q_proj.weight``); nothing is modified.
    """
    from peft.tuners.lora import LoraLayer

    deltas: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, LoraLayer) and ADAPTER in module.lora_A:
            deltas[f"{name}.weight"] = module.get_delta_weight(ADAPTER)
    state: dict[str, Any] = {}
    for key, value in model.state_dict().items():
        if is_lora_param(key):
            continue
        key = key.replace(".base_layer.", ".")
        if key in deltas:
            value = value + deltas[key].to(value.dtype)
        state[key] = value
    return state
