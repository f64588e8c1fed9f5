"""The ``hf`` language model: any transformers causal LM behind vlakit's LanguageModel."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import CausalLMOutputWithPast
from vlakit_hf.config import HFConfig, LoraSettings
from vlakit_hf.lora import inject_lora, lora_targets
from vlakit_hf.token_rows import TokenRows

from vlakit.interfaces.language import LanguageModel, LMOutput

#: The keyword (and output field) of the KV cache: ``cache`` in newer transformers, which
#: deprecate ``past_key_values`` (removed in 5.40), ``past_key_values`` before.
CACHE_ARGUMENT = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def enable_checkpointing(model: nn.Module) -> None:
    """Activation checkpointing, non-reentrant (gradients reach LoRA even with frozen inputs)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


class HFLanguageModel(LanguageModel):
    """A transformers causal LM (``self.model``) with its tokenizer.

    Set-up order for an RT-2 style VLA with LoRA (any order works, this one is cheapest):
    :meth:`resize_token_embeddings` for the appended action tokens, then :meth:`apply_lora`,
    then :meth:`trainable_token_rows` with the action token ids.
    """

    def __init__(self, model: nn.Module, tokenizer: Any, settings: HFConfig, source: dict[str, Any]) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        #: JSON reference to the base weights: {"path": dir} or {"config": {...}} (for bundles).
        self.source = source
        #: Embedding rows of the base model before any resize.
        self.base_vocab_size = self.vocab_size
        #: The LoRA settings applied, or None.
        self.lora: LoraSettings | None = None
        self._row_ids: list[int] = []
        self._rows: TokenRows | None = None
        if settings.gradient_checkpointing:
            enable_checkpointing(model)

    @classmethod
    def build(cls, settings: HFConfig) -> HFLanguageModel:
        """Load or create the model described by ``settings`` (LoRA is not applied yet)."""
        from vlakit_hf.loading import build_causal_lm

        model, tokenizer, source = build_causal_lm(settings)
        return cls(model, tokenizer, settings, source)

    # -- shapes --------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[1])

    @property
    def vocab_size(self) -> int:
        return int(self.model.get_input_embeddings().weight.shape[0])

    @property
    def quantized(self) -> bool:
        """True when the weights were loaded in 8 or 4 bits."""
        return bool(getattr(self.model, "is_quantized", False))

    # -- running -------------------------------------------------------------------------
    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """int64 ``[B, T]`` -> ``[B, T, E]`` in the model's dtype."""
        return self.model.get_input_embeddings()(ids)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool = False,
        position_ids: torch.Tensor | None = None,
    ) -> LMOutput:
        """``[B, T, E]`` -> logits ``[B, T, V]``; with ``use_cache`` also the transformers Cache."""
        out = self.model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            use_cache=use_cache,
            position_ids=position_ids,
            return_dict=True,
            **{CACHE_ARGUMENT: past_key_values},
        )
        return LMOutput(logits=out.logits, past_key_values=out.get(CACHE_ARGUMENT) if use_cache else None)

    # -- vocabulary and training set-up -------------------------------------------------
    def resize_token_embeddings(self, new_size: int, mean_resizing: bool | None = None) -> None:
        """Grow (or shrink) the input embedding and LM head to ``new_size`` rows.

        New rows start from the old rows' mean and covariance (``mean_resizing``, default from
        the config). Trainable token rows and LoRA survive the resize.
        """
        if new_size == self.vocab_size:
            return
        self._drop_rows(bake=True)
        mean = self.settings.mean_resizing if mean_resizing is None else mean_resizing
        # transformers announces mean resizing with a warning per call; what it does is this
        # docstring's and the recipe's (`mean_resizing`), so the run's output is spared it
        said = logging.getLogger("transformers.modeling_utils")
        level = said.level
        said.setLevel(logging.ERROR)
        try:
            self.model.resize_token_embeddings(new_size, mean_resizing=mean)
        finally:
            said.setLevel(level)
        if self.lora is not None:
            self._freeze_vocab_weights()
        self._row_ids = [i for i in self._row_ids if i < new_size]
        self._install_rows()

    def apply_lora(self, lora: LoraSettings | dict[str, Any] | None = None) -> bool:
        """Add LoRA adapters (``lora``, else the config's ``lora``) and freeze the base weights.

        Returns False (and changes nothing) when there are no LoRA settings. Idempotent for the
        same settings. Token rows marked before or after stay trainable.
        """
        settings = LoraSettings.model_validate(lora) if isinstance(lora, dict) else (lora or self.settings.lora)
        if settings is None:
            return False
        if self.lora is not None:
            if settings != self.lora:
                raise ValueError(f"LoRA is already applied with {self.lora}; cannot re-apply with {settings}")
            return True
        if self.quantized:
            from peft import prepare_model_for_kbit_training

            prepare_model_for_kbit_training(self.model, use_gradient_checkpointing=self.settings.gradient_checkpointing)
        self._drop_rows(bake=True)
        inject_lora(self.model, settings, self.lora_targets(settings))
        self.lora = settings
        self._after_lora()
        self._install_rows()
        return True

    def lora_targets(self, settings: LoraSettings) -> list[str]:
        """Full names of the linear layers LoRA adapts (everything but the LM head)."""
        return lora_targets(self.model, settings, exclude=(self.model.get_output_embeddings(),))

    def _after_lora(self) -> None:
        """Hook for subclasses: re-enable what should train beside the adapters."""

    def trainable_token_rows(self, ids: list[int]) -> None:
        """Keep the embedding and LM-head rows of ``ids`` trainable while the rest is frozen.

        Calls accumulate ids. Without LoRA (a fully trainable matrix) nothing is needed until
        :meth:`apply_lora` freezes the matrix, which then installs the rows itself.
        """
        new = {int(i) for i in ids}
        bad = sorted(i for i in new if not 0 <= i < self.vocab_size)
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary (0..{self.vocab_size - 1})")
        if self._rows is not None and new <= set(self._rows.ids):
            return  # already trainable: keep the same parameters (an optimizer may hold them)
        self._row_ids = sorted(set(self._row_ids) | new)
        self._drop_rows(bake=True)
        self._install_rows()

    def token_row_ids(self) -> list[int]:
        """The ids whose rows were asked to stay trainable."""
        return list(self._row_ids)

    def _vocab_modules(self) -> tuple[nn.Embedding, nn.Module | None]:
        return self.model.get_input_embeddings(), self.model.get_output_embeddings()

    def _freeze_vocab_weights(self) -> None:
        embedding, head = self._vocab_modules()
        for module in (embedding, head):
            if module is not None:
                for param in module.parameters(recurse=False):
                    param.requires_grad_(False)

    def _install_rows(self) -> None:
        """Install trainable rows for the asked ids when the vocabulary weights are frozen."""
        embedding, head = self._vocab_modules()
        frozen = not embedding.weight.requires_grad or (head is not None and not head.weight.requires_grad)
        if self._row_ids and frozen:
            self._rows = TokenRows(embedding, head, self._row_ids)

    def _drop_rows(self, bake: bool) -> None:
        if self._rows is not None:
            if bake:
                self._rows.bake()
            else:
                self._rows.remove()
            self._rows = None

    @property
    def token_rows(self) -> TokenRows | None:
        """The installed trainable rows, if any."""
        return self._rows

    # -- bundles ---------------------------------------------------------------------------
    def save_weights(self, directory: str) -> dict[str, Any]:
        """Write what a bundle needs into ``directory`` (see :mod:`vlakit_hf.bundle`)."""
        from vlakit_hf.bundle import save_weights

        return save_weights(self, directory)

    def load_weights(self, directory: str) -> None:
        """Load :meth:`save_weights` output into this freshly built model (same recipe config)."""
        from vlakit_hf.bundle import load_weights

        load_weights(self, directory)

    @classmethod
    def from_saved(cls, directory: str, settings: HFConfig, base: str | None = None) -> HFLanguageModel:
        """Rebuild the model saved in ``directory`` by :meth:`save_weights` (no training code);
        ``base``: the base model directory adapters need (its hash must match the saved one)."""
        from vlakit_hf.bundle import from_saved

        return from_saved(cls, directory, settings, base)

    def save_preprocessing(self, directory: str) -> list[str]:
        """Save the tokenizer files into ``directory``; return their names."""
        import os

        return sorted({os.path.basename(p) for p in self.tokenizer.save_pretrained(directory)})

    @staticmethod
    def load_preprocessing(directory: str) -> dict[str, Any]:
        """The tokenizer saved by :meth:`save_preprocessing`, as ``{"tokenizer": ...}``."""
        from vlakit_hf.loading import load_tokenizer

        return {"tokenizer": load_tokenizer(directory)}

    @classmethod
    def from_parts(
        cls, model: nn.Module, preprocessing: dict[str, Any], settings: HFConfig, source: dict[str, Any]
    ) -> HFLanguageModel:
        """Wrap an already loaded transformers ``model`` with the loaded ``preprocessing``."""
        return cls(model, preprocessing["tokenizer"], settings, source)

    def set_preprocessing(self, preprocessing: dict[str, Any]) -> None:
        """Use the tokenizer (and image processing) loaded by :meth:`load_preprocessing`."""
        self.tokenizer = preprocessing["tokenizer"]

    @staticmethod
    def pretrained_class() -> Any:
        """The transformers auto class that loads a saved full model."""
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM
