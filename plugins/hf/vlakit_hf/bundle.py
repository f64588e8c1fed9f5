"""Saving and reloading a language model's weights for a bundle (safetensors + JSON, no pickle).

Two layouts, described by ``language.json`` in the directory:

``full``
    ``config.json`` + ``model.safetensors`` in the transformers layout (LoRA merged, trainable
    token rows written in), plus the tokenizer (and image processor). Loads with no base model.
``adapters``
    ``adapters.safetensors``: every trainable tensor (LoRA matrices, token rows, anything else
    left trainable) plus the embedding / head rows appended after the base vocabulary, and the
    base model directory's path and SHA-256 (``vlakit.sha256_tree``). Used with
    ``export: adapters`` when LoRA is applied and the base came from a path. Loading needs that
    base (``--base PATH``, else the path recorded at export) and refuses one whose hash differs.

Malformed files (bad JSON, tensors of other names, shapes or dtypes) raise ``BundleError``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import torch
from vlakit_hf.lora import merged_state_dict
from vlakit_hf.token_rows import HEAD_BIAS, HEAD_ROWS, ROWS

from vlakit import BundleError, sha256_tree

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
        "base": base_record(lm.source["path"]) if fmt == "adapters" else None,
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


def base_record(path: str) -> dict[str, str]:
    """What an adapter save records about its base: the directory and its ``sha256_tree``."""
    return {"path": path, "sha256": sha256_tree(path)}


def read_description(directory: str) -> dict[str, Any]:
    """The ``language.json`` written by :func:`save_weights`."""
    path = os.path.join(directory, DESCRIPTION)
    try:
        with open(path, encoding="utf-8") as f:
            description = json.load(f)
    except FileNotFoundError as err:
        raise BundleError(f"{path} is missing: not a directory written by save_weights") from err
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(description, dict) or description.get("format") not in ("full", "adapters"):
        fmt = description.get("format") if isinstance(description, dict) else None
        raise BundleError(f"{path}: unknown weights format {fmt!r}")
    if description["format"] == "adapters":
        base = description.get("base")
        if not (isinstance(base, dict) and isinstance(base.get("sha256"), str)):
            raise BundleError(f"{path}: an adapter save must record its base's sha256")
    return description


def _load_tensors(path: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise BundleError(f"{path} is missing")
    try:
        return load_file(path)
    except SafetensorError as err:
        raise BundleError(f"{path} is not a valid safetensors file: {err}") from None


def _check_dtypes(state: dict[str, Any], own: dict[str, torch.Tensor], where: str) -> None:
    """Refuse saved tensors whose dtype (a torch dtype or a safetensors code) differs from the model's."""
    wrong = [
        f"{k} {v} (model: {own[k].dtype})"
        for k, v in state.items()
        if k in own and (v.dtype if isinstance(v, torch.Tensor) else v) not in (own[k].dtype, _CODES.get(own[k].dtype))
    ]
    if wrong:
        raise BundleError(f"{where}: tensors of another dtype than the model's: {', '.join(wrong[:5])}")


#: torch dtype -> safetensors dtype code
_CODES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _load_into(model: torch.nn.Module, state: dict[str, torch.Tensor], allowed_missing: set[str]) -> None:
    _check_dtypes(state, model.state_dict(), "saved weights")
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
    own = lm.model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise BundleError(f"saved adapters do not fit the model: unexpected tensors {unknown[:5]}")
    _check_dtypes(state, own, "saved adapters")
    reshaped = [k for k, v in state.items() if v.shape != own[k].shape]
    if reshaped:
        raise BundleError(f"saved adapters do not fit the model: other shapes for {reshaped[:5]}")
    lm.model.load_state_dict(state, strict=False)


def from_saved(
    cls: type[HFLanguageModel], directory: str, settings: HFConfig, base: str | None = None
) -> HFLanguageModel:
    """Rebuild a model from ``directory`` and the recipe's ``settings`` (no training code).

    A ``full`` save needs nothing else. An ``adapters`` save needs its base model: ``base``, else
    the directory recorded at export; a base whose ``sha256_tree`` differs from the recorded one
    is refused.
    """
    desc = read_description(directory)
    if desc["format"] == "full":
        if base is not None:
            raise BundleError(f"{directory} holds the full language model; it takes no base model")
        return _from_full(cls, directory, settings)
    recorded = desc["base"]
    path = base if base is not None else recorded.get("path")
    if not isinstance(path, str) or not os.path.isdir(path):
        raise BundleError(
            f"{directory} holds LoRA adapters only and needs its base model (sha256 {recorded['sha256'][:16]}..., "
            f"exported from {recorded.get('path')!r}), which is not there: pass --base PATH (Policy.load(base=...))"
        )
    digest = sha256_tree(path)
    if digest != recorded["sha256"]:
        raise BundleError(
            f"base model {path} is not the one these adapters were trained on: its sha256 is "
            f"{digest[:16]}..., the bundle records {recorded['sha256'][:16]}..."
        )
    settings = settings.model_copy(update={"path": os.path.abspath(path), "config": None})
    lm = cls.build(settings)
    lm.set_preprocessing(cls.load_preprocessing(directory))
    load_weights(lm, directory)
    return lm


def _from_full(cls: type[HFLanguageModel], directory: str, settings: HFConfig) -> HFLanguageModel:
    """A ``full`` save through transformers' own loader, checked tensor by tensor."""
    from safetensors import SafetensorError, safe_open
    from vlakit_hf.loading import pretrained_kwargs

    weights = os.path.join(directory, WEIGHTS)
    try:
        with safe_open(weights, "pt") as f:
            saved = {k: f.get_slice(k).get_dtype() for k in f.keys()}
        model, info = cls.pretrained_class().from_pretrained(
            directory, local_files_only=True, output_loading_info=True, **pretrained_kwargs(settings)
        )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise BundleError(f"{directory}: cannot load the saved language model: {detail}") from None
    own = model.state_dict()
    tied = {k for k in own if k not in saved and _is_tied_head(model, k)}
    missing = [k for k in info.get("missing_keys", []) if k not in tied]
    problems = [f"{what} {sorted(keys)[:5]}" for what, keys in (
        ("missing tensors", missing),
        ("unexpected tensors", info.get("unexpected_keys", [])),
        ("tensors of other shapes", [m[0] if isinstance(m, tuple) else m for m in info.get("mismatched_keys", [])]),
    ) if keys]
    if problems:
        raise BundleError(f"{directory}: saved weights do not fit their config: {'; '.join(problems)}")
    _check_dtypes(saved, own, f"{weights}")
    model.eval()
    return cls.from_parts(model, cls.load_preprocessing(directory), settings, {"bundle": directory})


def _is_tied_head(model: torch.nn.Module, key: str) -> bool:
    head = model.get_output_embeddings()
    name = _module_name(model, head)
    return head is not None and key == f"{name}.weight" and head.weight is model.get_input_embeddings().weight
