"""Tiny random transformers models saved to disk, for tests of this plugin and of any package
that composes it (no download, a second or less each)::

    from vlakit_hf.testing import tiny_llama_dir
    lm = get_registry().get("language", "hf").build({"path": str(tiny_llama_dir(tmp_path))})
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TINY_LLAMA_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
}


def tiny_tokenizer(tmp_path: Path | None = None, extra_special: tuple[str, ...] = ()) -> Any:
    """The byte-level tokenizer of ``vlakit_hf`` (260 tokens + extras); saved to ``tmp_path`` if given."""
    from vlakit_hf.tokenizer import byte_tokenizer

    tokenizer = byte_tokenizer(extra_special)
    if tmp_path is not None:
        tokenizer.save_pretrained(str(tmp_path))
    return tokenizer


def _save(model: Any, tokenizer: Any, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def _token_ids(tokenizer: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def tiny_llama_dir(tmp_path: Path, seed: int = 0) -> Path:
    """A random 2-layer Llama (hidden 64) with its tokenizer, saved under ``tmp_path/llama``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**TINY_LLAMA_CONFIG, **_token_ids(tokenizer)))
    return _save(model, tokenizer, tmp_path / "llama")


def tiny_qwen2_dir(tmp_path: Path, seed: int = 0) -> Path:
    """A random 2-layer Qwen2 (biased q/k/v projections), saved under ``tmp_path/qwen2``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(Qwen2Config(**TINY_LLAMA_CONFIG, **_token_ids(tokenizer)))
    return _save(model, tokenizer, tmp_path / "qwen2")


def tiny_gpt2_dir(tmp_path: Path, seed: int = 0) -> Path:
    """A random 2-layer GPT-2 (tied LM head, Conv1D layers), saved under ``tmp_path/gpt2``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = tiny_tokenizer()
    torch.manual_seed(seed)
    ids = _token_ids(tokenizer)
    ids.pop("pad_token_id")
    config = GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=512, **ids)
    return _save(GPT2LMHeadModel(config), tokenizer, tmp_path / "gpt2")


def tiny_llava_config(tokenizer: Any) -> Any:
    """A LlavaConfig: CLIP vision tower (32 px, 8 px patches, 16 tokens) + 2-layer Llama."""
    from transformers import LlavaConfig
    from vlakit_hf.config import TINY_LLAVA

    return LlavaConfig(
        vision_config=dict(TINY_LLAVA["vision_config"]),
        text_config={"model_type": "llama", **TINY_LLAMA_CONFIG, **_token_ids(tokenizer)},
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )


def tiny_llava_dir(tmp_path: Path, seed: int = 0) -> Path:
    """A random tiny LLaVA with tokenizer and CLIP image processor, saved under ``tmp_path/llava``."""
    import torch
    from transformers import CLIPImageProcessor, LlavaForConditionalGeneration

    tokenizer = tiny_tokenizer(extra_special=("<image>",))
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(tiny_llava_config(tokenizer))
    directory = _save(model, tokenizer, tmp_path / "llava")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        str(directory)
    )
    return directory
