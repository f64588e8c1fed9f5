"""Config models of the ``hf`` and ``llava`` language models (pydantic only: no torch import)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from pydantic import Field, model_validator

from vlakit import ComponentConfig

#: The inline config used when neither ``path`` nor ``config`` is given: a tiny random Llama.
TINY_LLAMA: dict[str, Any] = {
    "model_type": "llama",
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
}

#: The inline config used by ``llava`` when neither ``path`` nor ``config`` is given.
TINY_LLAVA: dict[str, Any] = {
    "vision_config": {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 8,
    },
    "text_config": dict(TINY_LLAMA),
}


class LoraSettings(ComponentConfig):
    """LoRA adapters (peft) on the language model's linear layers; the base weights are frozen."""

    r: int = Field(16, ge=1, description="rank of the low-rank update")
    alpha: float = Field(32.0, gt=0, description="scaling numerator (update scaled by alpha / r)")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="dropout on the LoRA input")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear",
        description="names (last component, e.g. q_proj) of the linear layers to adapt, or all-linear "
        "(every linear layer of the language model except the LM head)",
    )


class HFConfig(ComponentConfig):
    """Any transformers causal LM, from a local directory or from an inline config (random init).

    With neither ``path`` nor ``config`` a tiny random Llama is built (tests, CPU smoke runs).
    """

    path: str | None = Field(None, description="local directory with the model and its tokenizer")
    config: dict[str, Any] | None = Field(
        None,
        description="inline transformers config (needs model_type) for a randomly initialized model; "
        "a byte-level tokenizer is built locally and vocab_size set to match unless given",
    )
    tokenizer: Literal["bytes", "words"] = Field(
        "bytes",
        description="tokenizer of an inline-config model: bytes (one token per byte, any text) or "
        "words (one token per word of vocabulary, unknown words become <unk>; several times shorter "
        "sequences)",
    )
    vocabulary: list[str] | None = Field(
        None,
        description="the words of tokenizer: words; when not given, vlakit train fills it from the "
        "training texts (instructions, questions, answers, the prompt), and the bundle's recipe keeps it",
    )
    lora: LoraSettings | None = Field(None, description="LoRA adapters, or null for full fine-tuning")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="dtype the weights are loaded in")
    load_in_8bit: bool = Field(False, description="8-bit weights (needs bitsandbytes and a GPU)")
    load_in_4bit: bool = Field(False, description="4-bit NF4 weights (needs bitsandbytes and a GPU)")
    export: Literal["adapters", "merged"] = Field(
        "adapters",
        description="what a bundle holds with LoRA: the adapters and trainable token rows (plus a "
        "reference to the base) or the merged full weights; models without a path or without LoRA "
        "are always saved in full",
    )
    gradient_checkpointing: bool = Field(
        False, description="recompute activations in the backward pass (less memory, more time)"
    )
    attn_implementation: str | None = Field(None, description="eager, sdpa, flash_attention_2, ...")
    mean_resizing: bool = Field(
        True, description="initialize appended embedding rows from the old rows' mean and covariance"
    )

    @model_validator(mode="after")
    def _check(self) -> HFConfig:
        if self.path is not None and self.config is not None:
            raise ValueError("give either path (a local model directory) or config (inline), not both")
        if self.config is not None and "model_type" not in self.config and self._needs_model_type():
            raise ValueError("an inline config needs a model_type, e.g. {model_type: llama, hidden_size: 128}")
        if self.load_in_8bit and self.load_in_4bit:
            raise ValueError("choose one of load_in_8bit and load_in_4bit")
        if (self.load_in_8bit or self.load_in_4bit) and self.path is None:
            raise ValueError("load_in_8bit / load_in_4bit need pretrained weights: set path")
        if self.tokenizer == "words" and self.path is not None:
            raise ValueError("tokenizer: words is for inline-config models; a model from path uses its own tokenizer")
        if self.vocabulary is not None and self.tokenizer != "words":
            raise ValueError("vocabulary is only used with tokenizer: words")
        return self

    def fitted_to_texts(self, texts: Callable[[], Iterable[str]]) -> dict[str, Any] | None:
        """``{"vocabulary": [...]}`` fitted on the training texts when ``tokenizer: words`` has none."""
        if self.tokenizer != "words" or self.vocabulary is not None:
            return None
        from vlakit_hf.tokenizer import fit_vocabulary

        return {"vocabulary": fit_vocabulary(texts())}

    def _needs_model_type(self) -> bool:
        return True

    def preflight(self) -> list[str]:
        """The model directory exists; an inline config names only its config class's fields,
        with sizes >= 1 and heads that divide the width (no weights are read)."""
        from vlakit_hf.preflight import inline_config_problems, model_dir_problems

        if self.path is not None:
            return model_dir_problems(self.path)
        if self.config is None:
            return []
        return inline_config_problems(self.config, "config", self._default_model_type())

    def _default_model_type(self) -> str | None:
        """The transformers model type of an inline config without ``model_type``."""
        return None

    def inline_config(self) -> dict[str, Any] | None:
        """The inline config to build from (the tiny default when neither path nor config is set)."""
        if self.path is not None:
            return None
        return dict(self.config) if self.config is not None else dict(TINY_LLAMA)


class LlavaSettings(HFConfig):
    """A LLaVA model (transformers ``LlavaForConditionalGeneration``) that fills both the vision and
    the language slot. ``config`` is an inline LlavaConfig (``vision_config``, ``text_config``, ...).
    """

    freeze_vision: bool = Field(True, description="keep the vision tower frozen")
    train_projector: bool = Field(
        False, description="with LoRA, also train the multi-modal projector in full"
    )

    def _needs_model_type(self) -> bool:
        return False

    def _default_model_type(self) -> str | None:
        return "llava"

    def inline_config(self) -> dict[str, Any] | None:
        if self.path is not None:
            return None
        return dict(self.config) if self.config is not None else {
            k: dict(v) for k, v in TINY_LLAVA.items()
        }
