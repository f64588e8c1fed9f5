"""Trainable rows of a frozen input embedding and LM head (the action tokens under LoRA).

The chosen rows get their own small parameters (``[K, E]``) registered on the embedding and
head modules; forward hooks substitute them for the frozen rows. Only those ``K`` rows train,
whatever the optimizer (no weight decay on the frozen rows, no full-size gradient); the module
tree and the names of the original weights are unchanged, and :meth:`TokenRows.bake` writes the
rows back into the full matrices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ROWS = "vlakit_token_rows"
HEAD_ROWS = "vlakit_head_rows"
HEAD_BIAS = "vlakit_head_bias"
_INDEX = "vlakit_row_index"
_IDS = "vlakit_row_ids"


def _embedding_hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Replace the output at the chosen ids by the trainable rows (scaled like the module)."""
    pos = getattr(module, _INDEX)[args[0]]
    new = getattr(module, ROWS)[pos.clamp(min=0)]
    scale = getattr(module, "embed_scale", None)  # Gemma-style scaled embeddings
    if scale is not None:
        new = new * torch.as_tensor(scale, dtype=new.dtype, device=new.device)
    # Always in the graph (zero gradient when no id is hit), so DDP sees every parameter used.
    return torch.where((pos >= 0).unsqueeze(-1), new.to(output.dtype), output)


def _head_hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
    """Recompute the logits of the chosen ids with the trainable rows."""
    x = args[0]
    bias = getattr(module, HEAD_BIAS, None)
    new = F.linear(x, getattr(module, HEAD_ROWS).to(x.dtype), None if bias is None else bias.to(x.dtype))
    return output.index_copy(output.dim() - 1, getattr(module, _IDS), new.to(output.dtype))


class TokenRows:
    """Trainable copies of rows ``ids`` of ``embedding`` and ``head`` (one shared copy when tied)."""

    def __init__(self, embedding: nn.Embedding, head: nn.Module | None, ids: Sequence[int]) -> None:
        self.ids = sorted({int(i) for i in ids})
        vocab = embedding.weight.shape[0]
        bad = [i for i in self.ids if not 0 <= i < vocab]
        if bad:
            raise ValueError(f"token ids {bad[:5]} are outside the vocabulary (0..{vocab - 1})")
        self.embedding = embedding
        self.head = head
        self.tied = head is not None and head.weight is embedding.weight
        device = embedding.weight.device
        ids_t = torch.tensor(self.ids, dtype=torch.long, device=device)
        index = torch.full((vocab,), -1, dtype=torch.long, device=device)
        index[ids_t] = torch.arange(len(self.ids), device=device)
        rows = nn.Parameter(embedding.weight.detach()[ids_t].clone())
        embedding.register_buffer(_INDEX, index, persistent=False)
        embedding.register_parameter(ROWS, rows)
        self._hooks = [embedding.register_forward_hook(_embedding_hook)]
        if head is not None:
            head.register_buffer(_IDS, ids_t, persistent=False)
            head_rows = rows if self.tied else nn.Parameter(head.weight.detach()[ids_t].clone())
            head.register_parameter(HEAD_ROWS, head_rows)
            bias = getattr(head, "bias", None)
            if bias is not None:
                head.register_parameter(HEAD_BIAS, nn.Parameter(bias.detach()[ids_t].clone()))
            self._hooks.append(head.register_forward_hook(_head_hook))

    def parameters(self) -> list[nn.Parameter]:
        """The distinct trainable row parameters (``[K, E]``, and ``[K]`` head bias rows)."""
        params = [getattr(self.embedding, ROWS)]
        if self.head is not None:
            params += [getattr(self.head, n) for n in (HEAD_ROWS, HEAD_BIAS) if hasattr(self.head, n)]
        unique: dict[int, nn.Parameter] = {id(p): p for p in params}
        return list(unique.values())

    def merged_embedding(self) -> torch.Tensor:
        """The embedding matrix ``[V, E]`` with the trainable rows written in (a copy)."""
        ids = torch.tensor(self.ids, dtype=torch.long, device=self.embedding.weight.device)
        return self.embedding.weight.detach().index_copy(0, ids, getattr(self.embedding, ROWS).detach())

    def merged_head(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The head weight ``[V, E]`` and bias ``[V]`` (or ``None``) with the rows written in."""
        assert self.head is not None, "no LM head"
        ids = getattr(self.head, _IDS)
        weight = self.head.weight.detach().index_copy(0, ids, getattr(self.head, HEAD_ROWS).detach())
        bias = getattr(self.head, "bias", None)
        if bias is not None:
            bias = bias.detach().index_copy(0, ids, getattr(self.head, HEAD_BIAS).detach())
        return weight, bias

    @torch.no_grad()
    def bake(self) -> None:
        """Write the rows into the embedding and head weights, then remove hooks and rows."""
        embedding = self.merged_embedding()
        head = self.merged_head() if self.head is not None else None
        self.embedding.weight.copy_(embedding)
        if head is not None:
            if not self.tied:
                self.head.weight.copy_(head[0])
            if head[1] is not None:
                self.head.bias.copy_(head[1])
        self.remove()

    def remove(self) -> None:
        """Drop the hooks, row parameters and buffers (without baking)."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        for module in (self.embedding, self.head):
            if module is None:
                continue
            for name in (ROWS, HEAD_ROWS, HEAD_BIAS):
                module._parameters.pop(name, None)
            for name in (_INDEX, _IDS):
                module._buffers.pop(name, None)
