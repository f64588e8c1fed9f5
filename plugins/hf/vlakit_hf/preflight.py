"""Checks of an ``hf`` / ``llava`` block that need no weights: the local model directory exists,
and an inline config names only fields of its transformers config class, which accepts it."""

from __future__ import annotations

import difflib
import functools
import inspect
from pathlib import Path
from typing import Any

#: Size fields of transformers configs that must be at least 1 where a config has them.
SIZE_FIELDS = (
    "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "max_position_embeddings", "vocab_size", "head_dim",
    "image_size", "patch_size",
)


def model_dir_problems(path: str) -> list[str]:
    """``path`` is a local directory holding a transformers ``config.json``."""
    where = Path(path).expanduser()
    if not where.exists():
        return [f"path: {path} does not exist (a local model directory, e.g. saved with save_pretrained; "
                "vlakit never downloads weights)"]
    if not where.is_dir():
        return [f"path: {path} is not a directory (a local model directory with config.json)"]
    if not (where / "config.json").is_file():
        return [f"path: {path} has no config.json; is it a transformers model directory?"]
    return []


@functools.cache
def config_fields(cls: type) -> frozenset[str]:
    """The names a transformers config class takes: its own arguments, its attribute aliases and
    those of every config (``PretrainedConfig``)."""
    from transformers import PretrainedConfig

    names = {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")}
    names |= set(getattr(cls, "attribute_map", {}) or {})
    names |= set(PretrainedConfig().to_dict())
    names |= {"pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings", "use_cache",
              "torch_dtype", "output_attentions", "model_type"}
    names |= set(getattr(cls, "sub_configs", {}) or {})
    return frozenset(names)


def inline_config_problems(config: dict[str, Any], prefix: str = "config", model_type: str | None = None) -> list[str]:
    """Problems of an inline transformers config (``model_type`` from the dict unless given)."""
    from transformers import CONFIG_MAPPING

    kind = config.get("model_type", model_type)
    if kind is None:
        return []
    if kind not in CONFIG_MAPPING:
        guess = difflib.get_close_matches(str(kind), list(CONFIG_MAPPING.keys()), n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        return [f"{prefix}.model_type: transformers has no model type {kind!r}{hint}"]
    cls = CONFIG_MAPPING[kind]
    known = config_fields(cls)
    problems = []
    for key in sorted(set(config) - known):
        guess = difflib.get_close_matches(str(key), sorted(known), n=1)
        hint = f"; did you mean {guess[0]!r}?" if guess else ""
        problems.append(f"{prefix}.{key}: not a field of transformers' {cls.__name__}{hint}")
    subs = getattr(cls, "sub_configs", {}) or {}
    for name in subs:
        sub = config.get(name)
        if isinstance(sub, dict):
            problems += inline_config_problems(sub, f"{prefix}.{name}", sub.get("model_type"))
    if problems:
        return problems
    for name in SIZE_FIELDS:
        value = config.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{prefix}.{name}: expected a whole number, got {value!r}"[:200])
        elif value < 1:
            problems.append(f"{prefix}.{name}: expected at least 1, got {value}")
    hidden, heads, kv = config.get("hidden_size"), config.get("num_attention_heads"), config.get("num_key_value_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and heads > 0 and "head_dim" not in config and hidden % heads:
        problems.append(f"{prefix}.num_attention_heads: {heads} does not divide hidden_size {hidden}")
    if isinstance(heads, int) and isinstance(kv, int) and kv > 0 and heads % kv:
        problems.append(f"{prefix}.num_key_value_heads: {kv} does not divide num_attention_heads {heads}")
    if problems:
        return problems
    try:
        cls(**{k: v for k, v in config.items() if k != "model_type" and k not in subs})
    except Exception as exc:  # noqa: BLE001  (transformers' own validation, in its words)
        text = " ".join(str(exc).split())
        problems.append(f"{prefix}: transformers' {cls.__name__} refuses it: {text[:300]}")
    return problems
