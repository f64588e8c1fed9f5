"""Building a transformers model and its tokenizer from a local directory or an inline config."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from vlakit_hf.config import HFConfig
from vlakit_hf.tokenizer import byte_tokenizer, word_tokenizer

from vlakit import RecipeError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def local_dir(path: str) -> str:
    """``path`` as an existing local directory (never a hub id), else a clear error."""
    p = Path(os.path.expanduser(path))
    if not p.is_dir():
        raise RecipeError(
            f"model path {path!r} is not a local directory; vlakit never downloads weights: "
            "download the model yourself and give its directory"
        )
    return str(p.resolve())


def pretrained_kwargs(settings: HFConfig) -> dict[str, Any]:
    """Keyword arguments for ``from_pretrained``/``from_config``: dtype, attention, quantization."""
    kwargs: dict[str, Any] = {"dtype": DTYPES[settings.dtype]}
    if settings.attn_implementation:
        kwargs["attn_implementation"] = settings.attn_implementation
    if settings.load_in_8bit or settings.load_in_4bit:
        kwargs["quantization_config"] = quantization_config(settings)
    return kwargs


def quantization_config(settings: HFConfig) -> Any:
    """A bitsandbytes config for 8/4-bit loading; a clear error when bitsandbytes is missing."""
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as err:
        raise RecipeError(
            "load_in_8bit / load_in_4bit need the bitsandbytes package (and a CUDA GPU); "
            "install it or turn quantization off"
        ) from err
    from transformers import BitsAndBytesConfig

    if settings.load_in_8bit:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=DTYPES[settings.dtype] if settings.dtype != "float32" else torch.bfloat16,
    )


def ensure_pad(tokenizer: Any) -> Any:
    """Give a tokenizer without a pad token its EOS as pad (GPT-2 style tokenizers)."""
    if tokenizer.pad_token_id is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_tokenizer(path: str) -> Any:
    """The tokenizer saved in the local directory ``path``."""
    from transformers import AutoTokenizer

    return ensure_pad(AutoTokenizer.from_pretrained(path, local_files_only=True))


def fill_token_config(config: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    """Set vocab_size and the special token ids of an inline config from ``tokenizer``."""
    config = dict(config)
    size = len(tokenizer)
    vocab = config.setdefault("vocab_size", size)
    if vocab < size:
        raise RecipeError(f"inline config vocab_size {vocab} is smaller than the tokenizer's {size} tokens")
    config.setdefault("bos_token_id", tokenizer.bos_token_id)
    config.setdefault("eos_token_id", tokenizer.eos_token_id)
    config.setdefault("pad_token_id", tokenizer.pad_token_id)
    return config


def inline_tokenizer(settings: HFConfig, extra_special: Sequence[str] = ()) -> Any:
    """The locally built tokenizer of an inline-config model: bytes, or words of its vocabulary."""
    if settings.tokenizer == "bytes":
        return byte_tokenizer(extra_special)
    if settings.vocabulary is None:
        raise RecipeError(
            "language: tokenizer words needs a vocabulary; vlakit train fits it on the training texts, "
            "or list the words under language.vocabulary"
        )
    return word_tokenizer(settings.vocabulary, extra_special)


def build_causal_lm(settings: HFConfig) -> tuple[Any, Any, dict[str, Any]]:
    """``(model, tokenizer, source)`` for the ``hf`` plugin.

    ``source`` is a JSON-compatible reference to the base (``{"path": ...}`` or
    ``{"config": {...}}``) that a saved bundle records.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    kwargs = pretrained_kwargs(settings)
    inline = settings.inline_config()
    if inline is None:
        path = local_dir(settings.path or "")
        tokenizer = load_tokenizer(path)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **kwargs)
        return model, tokenizer, {"path": path}
    tokenizer = inline_tokenizer(settings)
    inline = fill_token_config(inline, tokenizer)
    params = dict(inline)
    model_type = params.pop("model_type")
    try:
        config = AutoConfig.for_model(model_type, **params)
    except (KeyError, ValueError) as err:
        raise RecipeError(f"inline language model config: {err}") from err
    model = AutoModelForCausalLM.from_config(config, **kwargs)
    return model, tokenizer, {"config": inline}
