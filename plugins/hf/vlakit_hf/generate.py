"""Constrained decoding for ``transformers`` ``generate``: a logits processor that allows only
what the action codec can decode (the same rule as :func:`vlakit.tokens.constrained_greedy`)."""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

from vlakit.errors import VlakitError
from vlakit.interfaces import ActionCodec
from vlakit.tokens import ActionTokenMapping
from vlakit.tokens.constrained import SymbolConstraint, check_sizes, symbol_ids


class ActionLogitsProcessor(LogitsProcessor):
    """A ``transformers`` logits processor restricting ``generate`` to decodable action tokens.

    ``prompt_length`` is the number of ids in ``input_ids`` before the first generated token; by
    default it is taken from the first call (0 when generating from ``inputs_embeds``). Use a new
    processor for each ``generate`` call. Complete sequences may only emit ``stop_ids`` (default:
    the mapping's EOS, else its pad token), so generation ends right after the action.
    """

    def __init__(
        self,
        codec: ActionCodec,
        mapping: ActionTokenMapping,
        prompt_length: int | None = None,
        stop_ids: list[int] | None = None,
    ) -> None:
        check_sizes(codec, mapping)
        if stop_ids is None:
            stop = mapping.eos_token_id if mapping.eos_token_id is not None else mapping.pad_token_id
            if stop is None:
                raise VlakitError(
                    "ActionLogitsProcessor: the tokenizer has no EOS or pad token; pass stop_ids"
                )
            stop_ids = [stop]
        self.codec = codec
        self.mapping = mapping
        self.prompt_length = prompt_length
        self.stop_ids = [int(i) for i in stop_ids]
        self._constraint: SymbolConstraint | None = None
        self._lm_table: torch.Tensor | None = None

    def _setup(self, vocab: int, device: torch.device) -> SymbolConstraint:
        if self._constraint is None or self._constraint.device != device:
            check_sizes(self.codec, self.mapping, vocab)
            self._constraint = SymbolConstraint(self.codec, device)
            self._ids = symbol_ids(self.mapping, device)
            self._stop = torch.zeros(vocab, dtype=torch.bool, device=device)
            self._stop[self.stop_ids] = True
            self._lm_table = None
            if self._constraint.table is not None:
                self._lm_table = self._lm_mask(self._constraint.table)
        return self._constraint

    def _lm_mask(self, symbol_mask: torch.Tensor) -> torch.Tensor:
        """Symbol masks ``[N, num_symbols]`` -> vocabulary masks ``[N, V]`` (complete rows -> stop ids)."""
        lm = torch.zeros(
            symbol_mask.shape[0], self._stop.shape[0], dtype=torch.bool, device=symbol_mask.device
        )
        lm[:, self._ids] = symbol_mask
        complete = ~symbol_mask.any(dim=1)
        lm[complete] = self._stop
        return lm

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        constraint = self._setup(scores.shape[-1], scores.device)
        if self.prompt_length is None:
            self.prompt_length = input_ids.shape[1]
        generated = input_ids[:, self.prompt_length :]
        closed = (~self.mapping.is_action_id(generated)).any(dim=1)
        if self._lm_table is not None:
            allowed = self._lm_table[min(generated.shape[1], constraint.max_length)].expand(
                scores.shape[0], -1
            )
        else:
            symbols = self.mapping.ids_to_symbols(generated).clamp(min=0)
            allowed = self._lm_mask(constraint.mask(symbols))
        allowed = torch.where(closed[:, None], self._stop, allowed)
        return scores.masked_fill(~allowed, float("-inf"))
