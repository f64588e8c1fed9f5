"""Constrained decoding: the language model may only write what the action codec can decode.

At every generated position the logits are restricted to the token ids of the symbols
:meth:`ActionCodec.allowed_next` permits after the symbols written so far (RT-2 does this;
OpenVLA does not). A fixed-length codec (bins) allows its bins for ``K`` positions; a
variable-length codec (FAST) allows what keeps the sequence decodable and its end symbol; once a
sequence is complete only the stop token (EOS, or pad when there is no EOS) is allowed.
Following the constraint therefore always yields a sequence that ``codec.decode`` accepts.

:func:`constrained_greedy` is vlakit's own batched, KV-cached greedy loop over any model with the
:meth:`vlakit.interfaces.LanguageModel.forward` signature. (The ``hf`` plugin offers the same
constraint as a ``transformers`` logits processor for ``model.generate``.)

Fixed-length codecs are assumed to allow a set that depends on the position only, not on the
symbols chosen (``vlakit.testing.check_action_codec`` checks this); their masks are computed once.
Variable-length masks come from the codec's ``allowed_next_batch(prefix [B, P]) -> bool
[B, num_symbols]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from vlakit.errors import VlakitError
from vlakit.interfaces.codec import ActionCodec
from vlakit.tokens.mapping import ActionTokenMapping

Step = Callable[..., Any]
EmbedFn = Callable[[torch.Tensor], torch.Tensor]


class SymbolConstraint:
    """The symbols a codec allows next, batched, on one device.

    ``mask(prefix)`` maps symbols written so far ``[B, P]`` int64 to ``[B, num_symbols]`` bool;
    an all-False row is a complete sequence.
    """

    def __init__(self, codec: ActionCodec, device: torch.device | str = "cpu") -> None:
        self.codec = codec
        self.device = torch.device(device)
        self.num_symbols = int(codec.num_symbols)
        self.max_length = int(codec.max_length)
        self.fixed = codec.end_symbol is None
        #: Symbol written after a row is complete (the end symbol, or 0 for fixed-length codecs).
        self.pad_symbol = 0 if codec.end_symbol is None else int(codec.end_symbol)
        self.table: torch.Tensor | None = None
        #: per position of a fixed-length codec: whether every symbol is allowed there
        self.unrestricted: list[bool] = []
        if self.fixed:
            self.table = self._position_table()
            self.unrestricted = [bool(row.all()) for row in self.table]

    def _position_table(self) -> torch.Tensor:
        """``[K + 1, num_symbols]`` bool: row ``p`` is the mask after ``p`` symbols (row ``K`` all False)."""
        rows, prefix = [], []
        for _ in range(self.max_length + 1):
            allowed = np.asarray(self.codec.allowed_next(list(prefix)), dtype=bool)
            rows.append(allowed)
            if not allowed.any():
                break
            prefix.append(int(np.flatnonzero(allowed)[0]))
        if len(rows) != self.max_length + 1 or rows[-1].any():
            raise VlakitError(
                f"{type(self.codec).__name__}: a fixed-length codec must complete after exactly "
                f"max_length = {self.max_length} symbols"
            )
        return torch.from_numpy(np.stack(rows)).to(self.device)

    def mask(self, prefix: torch.Tensor) -> torch.Tensor:
        """Symbols ``[B, P]`` written so far -> allowed next symbols ``[B, num_symbols]`` bool."""
        b, p = prefix.shape
        if self.table is not None:
            return self.table[min(p, self.max_length)].expand(b, -1)
        return torch.as_tensor(self.codec.allowed_next_batch(prefix), device=prefix.device)


def symbol_ids(mapping: ActionTokenMapping, device: torch.device) -> torch.Tensor:
    """Token id of every symbol, ``[num_symbols]`` int64."""
    return torch.tensor(mapping.token_ids(), dtype=torch.long, device=device)


def check_sizes(codec: ActionCodec, mapping: ActionTokenMapping, vocab: int | None = None) -> None:
    """Refuse a mapping with another number of symbols than the codec, or ids beyond ``vocab``."""
    if mapping.num_symbols != codec.num_symbols:
        raise VlakitError(
            f"token mapping holds {mapping.num_symbols} symbols but the codec has {codec.num_symbols}"
        )
    if vocab is not None and mapping.last_id >= vocab:
        raise VlakitError(
            f"action token ids reach {mapping.last_id} but the model has {vocab} logits; resize the "
            f"embeddings to {mapping.vocab_size}"
        )


def _default_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Positions counting attended tokens only (left padding), ``[B, T]`` int64."""
    return (attention_mask.long().cumsum(-1) - 1).clamp_(min=0)


@torch.no_grad()
def constrained_greedy(
    step: Step,
    prefix_embeds: torch.Tensor,
    attention_mask: torch.Tensor | None,
    codec: ActionCodec,
    mapping: ActionTokenMapping,
    embed_fn: EmbedFn | None = None,
    use_cache: bool = True,
    position_ids: torch.Tensor | None = None,
    constraint: SymbolConstraint | None = None,
    return_probs: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Greedy action symbols for a batch of prompts, constrained to what ``codec`` can decode.

    ``step(inputs_embeds=, attention_mask=, past_key_values=, use_cache=, position_ids=)`` has the
    signature of :meth:`vlakit.interfaces.LanguageModel.forward` and returns logits ``[B, T, V]``
    (and ``past_key_values``); ``embed_fn`` maps ids ``[B, T]`` to embeddings ``[B, T, E]``
    (default ``step.embed_tokens``). ``prefix_embeds`` ``[B, T, E]`` is the prompt (image tokens,
    text), left-padded with ``attention_mask`` ``[B, T]`` (1 = attend; ``None`` = all ones);
    ``position_ids`` ``[B, T]`` default to counting attended tokens only, and each generated
    token takes the next position of its row. With ``use_cache`` one new token is run per step
    against the KV cache; without it the whole sequence is run again each step (same result).

    ``constraint`` is a reusable :class:`SymbolConstraint` of ``codec`` (built when not given).

    Returns symbols ``[B, K]`` int64 on the prompt's device: ``K = max_length`` for fixed-length
    codecs; for variable-length ones ``K`` is the longest row, shorter rows padded after their end
    symbol with the end symbol. Every row is accepted by ``codec.decode``.
    """
    b, device = prefix_embeds.shape[0], prefix_embeds.device
    check_sizes(codec, mapping)
    if constraint is None or constraint.codec is not codec or constraint.device != device:
        constraint = SymbolConstraint(codec, device)
    ids = symbol_ids(mapping, device)
    if attention_mask is None:
        attention_mask = torch.ones(prefix_embeds.shape[:2], dtype=torch.long, device=device)
    attention_mask = attention_mask.to(device=device, dtype=torch.long)
    if embed_fn is None:
        embed_fn = step.embed_tokens
    positions = _default_positions(attention_mask) if position_ids is None else position_ids.to(device)
    next_position = positions[:, -1:] + 1
    out = step(
        inputs_embeds=prefix_embeds,
        attention_mask=attention_mask,
        past_key_values=None,
        use_cache=use_cache,
        position_ids=positions,
    )
    check_sizes(codec, mapping, out.logits.shape[-1])
    logits, past = out.logits[:, -1], out.past_key_values
    embeds = prefix_embeds
    symbols = torch.full((b, constraint.max_length), constraint.pad_symbol, dtype=torch.long, device=device)
    allowed = constraint.mask(symbols[:, :0])
    scored = None  # with return_probs: the scores chosen from at each position [B, K, S]
    if return_probs:
        scored = torch.full((b, constraint.max_length, constraint.num_symbols), float("-inf"), device=device)
    written = 0
    for p in range(constraint.max_length):
        scores = logits.index_select(-1, ids).float()
        if constraint.table is not None and constraint.unrestricted[p]:
            chosen = scores.argmax(dim=-1)  # fixed-length codec, every symbol allowed here
        else:
            done = ~allowed.any(dim=1)
            scores = scores.masked_fill(~allowed, float("-inf"))
            chosen = torch.where(done, constraint.pad_symbol, scores.argmax(dim=-1))
        symbols[:, p] = chosen
        if scored is not None:
            scored[:, p] = scores
        written = p + 1
        allowed = constraint.mask(symbols[:, :written])
        if written == constraint.max_length or (not constraint.fixed and not bool(allowed.any())):
            break
        new = embed_fn(ids[chosen][:, None]).to(prefix_embeds.dtype)
        attention_mask = torch.cat([attention_mask, attention_mask.new_ones(b, 1)], dim=1)
        if use_cache:
            out = step(
                inputs_embeds=new,
                attention_mask=attention_mask,
                past_key_values=past,
                use_cache=True,
                position_ids=next_position + p,
            )
            past = out.past_key_values
        else:
            embeds = torch.cat([embeds, new], dim=1)
            positions = torch.cat([positions, next_position + p], dim=1)
            out = step(
                inputs_embeds=embeds,
                attention_mask=attention_mask,
                past_key_values=None,
                use_cache=False,
                position_ids=positions,
            )
        logits = out.logits[:, -1]
    if scored is not None:  # one softmax for all positions; a finished row (all -inf) -> zeros
        return symbols[:, :written], torch.softmax(scored[:, :written], dim=-1).nan_to_num_(0.0)
    return symbols[:, :written]
