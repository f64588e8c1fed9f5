"""Saving and reloading a language model's weights for a bundle (safetensors + JSON, no pickle).

Two layouts, described by ``language.json`` in the directory:

``full``
    ``config.json`` + ``model.safetensors`` in the transformers layout (LoRA merged, trainable
    token rows written in), plus the tokenizer (and image processor). Loads with no base model.
``adapters``
    ``adapters.safetensors``: every trainable tensor (LoRA matrices, token rows, anything else
    left trainable) plus the embedding / head rows appended after the base vocabulary, and a
    reference to the base model directory. Used with ``export: adapters`` when LoRA is applied
    and the base came from a path.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import torch
from vlakit_hf.lora import merged_state_dict
from vlakit_hf.token_rows import HEAD_BIAS, HEAD_ROWS, ROWS

from vlakit import BundleError

if TYPE_CHECKING:
    from vlakit_hf.config import HFConfig
    from vlakit_hf.model import HFLanguageModel

DESCRIPTION = "language.json"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
ADAPTERS = "adapters.safetensors"
_TAILS = ("vlakit.embed_tail", "vlakit.head_tail", "vlakit.head_bias_tail")
_ROW_NAMES = (ROWS, HEAD_ROWS, HEAD_BIAS)


def _module_name(model: torch.nn.Module, module: torch.nn.Module | None) -> str | None:
    for name, m in model.named_modules():
        if m is module:
            return name
    return None


def _tied(lm: HFLanguageModel) -> bool:
    embedding, head = lm._vocab_modules()
    return head is not None and head.weight is embedding.weight


def _vocab_weights(lm: HFLanguageModel) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Embedding ``[V, E]``, head weight and head bias with trainable rows written in."""
    embedding, head = lm._vocab_modules()
    rows = lm.token_rows
    if rows is not None:
        head_w, head_b = rows.merged_head() if head is not None else (None, None)
        return rows.merged_embedding(), head_w, head_b
    if head is None:
        return embedding.weight.detach(), None, None
    return embedding.weight.detach(), head.weight.detach(), getattr(head, "bias", None)


def full_state_dict(lm: HFLanguageModel) -> dict[str, torch.Tensor]:
    """The model's weights under their transformers names, LoRA merged and token rows baked in."""
    model = lm.model
    state = merged_state_dict(model) if lm.lora is not None else dict(model.state_dict())
    state = {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] not in _ROW_NAMES}
    embedding, head = lm._vocab_modules()
    emb_w, head_w, head_b = _vocab_weights(lm)
    state[f"{_module_name(model, embedding)}.weight"] = emb_w
    head_name = _module_name(model, head)
    if head_name is not None:
        if _tied(lm):
            state.pop(f"{head_name}.weight", None)  # re-tied on load
        else:
            state[f"{head_name}.weight"] = head_w
        if head_b is not None:
            state[f"{head_name}.bias"] = head_b
    return {k: v.detach().contiguous() for k, v in state.items()}


def adapter_state_dict(lm: HFLanguageModel) -> dict[str, torch.Tensor]:
    """Every trainable tensor, plus the vocabulary rows appended after the base vocabulary."""
    state = {n: p.detach().contiguous() for n, p in lm.model.named_parameters() if p.requires_grad}
    base = lm.base_vocab_size
    if lm.vocab_size > base:
        emb_w, head_w, head_b = _vocab_weights(lm)
        for key, value in zip(_TAILS, (emb_w, None if _tied(lm) else head_w, head_b)):
            if value is not None:
                state[key] = value[base:].contiguous()
    return state


def export_format(lm: HFLanguageModel) -> str:
    """``adapters`` when asked for, with LoRA applied and a base directory to refer to; else ``full``."""
    if lm.settings.export == "adapters" and lm.lora is not None and "path" in lm.source:
        return "adapters"
    return "full"


def save_weights(lm: HFLanguageModel, directory: str) -> dict[str, Any]:
    """Write the weights, the tokenizer (and image processor) and ``language.json``; return it."""
    from safetensors.torch import save_file

    os.makedirs(directory, exist_ok=True)
    fmt = export_format(lm)
    files = lm.save_preprocessing(directory)
    if fmt == "full":
        if lm.quantized:
            raise BundleError("cannot export merged weights of an 8/4-bit model; use export: adapters")
        save_file(full_state_dict(lm), os.path.join(directory, WEIGHTS), metadata={"format": "pt"})
        lm.model.config.save_pretrained(directory)
        files += [CONFIG, WEIGHTS]
    else:
        save_file(adapter_state_dict(lm), os.path.join(directory, ADAPTERS), metadata={"format": "pt"})
        files.append(ADAPTERS)
    description = {
        "format": fmt,
        "model_class": type(lm.model).__name__,
        "base": lm.source if fmt == "adapters" else None,
        "base_vocab_size": lm.base_vocab_size,
        "vocab_size": lm.vocab_size,
        "lora": lm.lora.model_dump() if lm.lora is not None and fmt == "adapters" else None,
        "token_rows": lm.token_row_ids() if fmt == "adapters" else [],
        "dtype": lm.settings.dtype,
        "files": sorted(set(files)) + [DESCRIPTION],
    }
    with open(os.path.join(directory, DESCRIPTION), "w", encoding="utf-8") as f:
        json.dump(description, f, indent=2)
    return description


def read_description(directory: str) -> dict[str, Any]:
    """The ``language.json`` written by :func:`save_weights`."""
    path = os.path.join(directory, DESCRIPTION)
    try:
        with open(path, encoding="utf-8") as f:
            description = json.load(f)
    except FileNotFoundError as err:
        raise BundleError(f"{path} is missing: not a directory written by save_weights") from err
    if description.get("format") not in ("full", "adapters"):
        raise BundleError(f"{path}: unknown weights format {description.get('format')!r}")
    return description


def _load_tensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise BundleError(f"{path} is missing")
    return load_file(path)


def _load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], allowed_missing: set[str]) -> None:
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if k not in allowed_missing]
    problems = []
    if result.unexpected_keys:
        problems.append(f"unexpected tensors {result.unexpected_keys[:5]}")
    if missing:
        problems.append(f"missing tensors {missing[:5]}")
    if problems:
        raise BundleError(f"saved weights do not fit the model: {'; '.join(problems)}")


@torch.no_grad()
def load_weights(lm: HFLanguageModel, directory: str) -> None:
    """Load :func:`save_weights` output into ``lm``, freshly built from the same recipe config."""
    desc = read_description(directory)
    if desc["format"] == "full":
        if lm.lora is not None:
            raise BundleError("these weights have LoRA merged in; load them into a model without LoRA")
        lm.resize_token_embeddings(desc["vocab_size"], mean_resizing=False)
        state = _load_tensors(os.path.join(directory, WEIGHTS))
        model = lm.model
        row_keys = {k for k in model.state_dict() if k.rsplit(".", 1)[-1] in _ROW_NAMES}
        head_name = _module_name(model, lm._vocab_modules()[1])
        tied = {f"{head_name}.weight"} if _tied(lm) else set()
        _load_into(model, state, row_keys | tied)
        return
    if lm.base_vocab_size != desc["base_vocab_size"]:
        raise BundleError(
            f"the base model has {lm.base_vocab_size} vocabulary rows but these adapters were trained on a "
            f"base with {desc['base_vocab_size']}: not the same base model"
        )
    state = _load_tensors(os.path.join(directory, ADAPTERS))
    tails = [state.pop(k, None) for k in _TAILS]
    lm.resize_token_embeddings(desc["vocab_size"], mean_resizing=False)
    embedding, head = lm._vocab_modules()
    base = desc["base_vocab_size"]
    targets = (embedding.weight, None if head is None else head.weight, getattr(head, "bias", None))
    for tail, target in zip(tails, targets):
        if tail is not None and target is not None:
            target[base:] = tail.to(target.dtype)
    lm.apply_lora(desc["lora"])
    lm.trainable_token_rows(desc["token_rows"])
    own = set(lm.model.state_dict())
    unknown = sorted(set(state) - own)
    if unknown:
        raise BundleError(f"saved adapters do not fit the model: unexpected tensors {unknown[:5]}")
    lm.model.load_state_dict(state, strict=False)


def from_saved(cls: type[HFLanguageModel], directory: str, settings: HFConfig) -> HFLanguageModel:
    """Rebuild a model from ``directory`` and the recipe's ``settings`` (no training code)."""
    from vlakit_hf.loading import pretrained_kwargs

    desc = read_description(directory)
    if desc["format"] == "full":
        model = cls.pretrained_class().from_pretrained(directory, local_files_only=True, **pretrained_kwargs(settings))
        model.eval()
        return cls.from_parts(model, cls.load_preprocessing(directory), settings, {"bundle": directory})
    if settings.path is None:
        settings = settings.model_copy(update={"path": desc["base"]["path"], "config": None})
    lm = cls.build(settings)
    lm.set_preprocessing(cls.load_preprocessing(directory))
    load_weights(lm, directory)
    return lm
