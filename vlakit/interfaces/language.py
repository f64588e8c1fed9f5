"""The language model interface: a causal LM over input embeddings, with its tokenizer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass
class LMOutput:
    """``logits`` ``[B, T, V]`` float; ``past_key_values`` the cache to pass to the next call."""

    logits: torch.Tensor
    past_key_values: Any = None


class LanguageModel(nn.Module, ABC):
    """A causal language model that runs on input embeddings.

    ``tokenizer`` is a transformers tokenizer (``encode``/``decode``, ``all_special_ids``,
    ``pad_token_id``); :attr:`vocab_size` counts the rows of the input embedding, which may be
    larger than the tokenizer's vocabulary after action tokens are appended.

    A vision-language model that brings its own vision tower and projector (LLaVA) sets
    :attr:`has_vision` and implements :meth:`image_embeddings`; vlakit then leaves the vision
    slot of the recipe empty and uses these embeddings directly as the image prefix.
    """

    tokenizer: Any

    @property
    @abstractmethod
    def hidden_size(self) -> int:
        """Width ``E`` of the input embeddings."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Rows ``V`` of the input embedding matrix (and columns of the logits)."""

    @abstractmethod
    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids ``[B, T]`` int64 -> embeddings ``[B, T, E]``."""

    @abstractmethod
    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        past_key_values: Any = None,
        use_cache: bool = False,
        position_ids: torch.Tensor | None = None,
    ) -> LMOutput:
        """Embeddings ``[B, T, E]`` (mask ``[B, T_past + T]``, 1 = attend) -> :class:`LMOutput`.

        ``position_ids`` ``[B, T]`` int64 are given for left-padded batches (positions count
        attended tokens only); when ``None`` the model's default positions are used.
        """

    @abstractmethod
    def resize_token_embeddings(self, new_size: int) -> None:
        """Grow (or shrink) the embedding rows and LM head to ``new_size`` ids."""

    def trainable_token_rows(self, ids: list[int]) -> None:
        """Make the embedding and LM-head rows of ``ids`` trainable (for LoRA-frozen models).

        The default does nothing, which is right when the whole model is trainable.
        """

    @property
    def has_vision(self) -> bool:
        """True when this model brings its own vision tower (see :meth:`image_embeddings`)."""
        return False

    def image_preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``[B, H, W, 3]`` -> pixels for :meth:`image_embeddings` (vision models only)."""
        raise NotImplementedError(f"{type(self).__name__} has no vision tower")

    def image_embeddings(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels -> image tokens ``[B, N, E]`` already in the LM's embedding space."""
        raise NotImplementedError(f"{type(self).__name__} has no vision tower")

    def apply_lora(self, lora: Any = None) -> bool:
        """Wrap the model with LoRA adapters (``lora``: settings, or the plugin's own when ``None``).

        Called by vlakit after the vocabulary is resized for action tokens and before the
        action-token rows are made trainable. Returns whether LoRA is now applied; the default
        supports no LoRA and refuses settings.
        """
        if lora is not None:
            raise NotImplementedError(f"{type(self).__name__} does not support LoRA")
        return False

    def save_weights(self, directory: str) -> dict[str, Any]:
        """Write the weights a bundle needs into ``directory``; return a JSON description.

        The default writes the whole module as ``language.safetensors``.
        """
        from pathlib import Path

        from safetensors.torch import save_model

        Path(directory).mkdir(parents=True, exist_ok=True)
        save_model(self, str(Path(directory) / "language.safetensors"))
        return {"format": "state_dict", "files": ["language.safetensors"]}

    def load_weights(self, directory: str) -> None:
        """Load what :meth:`save_weights` wrote into this freshly built model (same config).

        It does whatever set-up the saved weights need (vocabulary size, LoRA, token rows).
        """
        from pathlib import Path

        from safetensors.torch import load_model

        load_model(self, str(Path(directory) / "language.safetensors"))
