"""Where a codec's symbols live in a language model's vocabulary.

Two layouts, both used by published VLAs:

``append``
    new ids ``[len(tokenizer), len(tokenizer) + N)`` after every existing token; the caller grows
    the embedding and LM head to :attr:`ActionTokenMapping.vocab_size` rows.
``tail``
    the last ``N`` ids of the tokenizer's base vocabulary (``tokenizer.vocab_size``, added tokens
    excluded) are taken over by the action symbols, as OpenVLA and PaLM-E do; no resize is
    needed. With ``descending=True`` symbol 0 is the very last id (OpenVLA's
    ``vocab_size - digitize(...)``), otherwise symbol 0 is the first id of the tail.

A mapping never touches a special token and never needs ids the vocabulary does not have; a
mapping that would is refused with :class:`TokenMappingError`. It is a small frozen value with a
JSON form (:meth:`ActionTokenMapping.to_dict`) saved next to the codec state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from vlakit.errors import VlakitError
from vlakit.interfaces.codec import InvalidSymbols

Mode = Literal["append", "tail"]
MODES: tuple[str, ...] = ("append", "tail")


class TokenMappingError(VlakitError):
    """An action-token mapping that the tokenizer or vocabulary cannot hold."""


def _special_ids(tokenizer: Any) -> set[int]:
    """Ids of the tokenizer's special tokens (``all_special_ids``), as ints."""
    return {int(i) for i in (getattr(tokenizer, "all_special_ids", None) or []) if i is not None}


def _added_ids(tokenizer: Any) -> set[int]:
    """Ids of tokens added on top of the base vocabulary (special or not)."""
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    return {int(i) for i in decoder}


def _as_array(x: Any) -> Any:
    """Torch tensors and numpy arrays pass through; anything else becomes an int64 array."""
    if isinstance(x, np.ndarray) or hasattr(x, "masked_fill"):
        return x
    return np.asarray(x, dtype=np.int64)


def _numel(x: Any) -> int:
    return int(x.size) if isinstance(x, np.ndarray) else int(x.numel())


def _tokenizer_len(tokenizer: Any) -> int:
    return int(len(tokenizer))


@dataclass(frozen=True)
class ActionTokenMapping:
    """Symbols ``[0, num_symbols)`` <-> token ids ``[first_id, first_id + num_symbols)``.

    ``vocab_size`` is the number of embedding rows the language model needs (grow the model to
    it when it has fewer). ``eos_token_id`` / ``pad_token_id`` come from the tokenizer and are what
    constrained decoding allows once an action is complete.
    """

    mode: Mode
    first_id: int
    num_symbols: int
    vocab_size: int
    descending: bool = False
    eos_token_id: int | None = None
    pad_token_id: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise TokenMappingError(f"token mapping mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.num_symbols < 1:
            raise TokenMappingError(f"token mapping needs at least one symbol (got {self.num_symbols})")
        if self.first_id < 0 or self.last_id >= self.vocab_size:
            raise TokenMappingError(
                f"token mapping ids [{self.first_id}, {self.last_id}] do not fit a vocabulary of "
                f"{self.vocab_size} ids"
            )

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        num_symbols: int,
        tokenizer: Any,
        mode: Mode = "append",
        vocab_size: int | None = None,
        *,
        descending: bool = False,
        tail_end: int | None = None,
    ) -> ActionTokenMapping:
        """The mapping of ``num_symbols`` codec symbols into ``tokenizer``'s vocabulary.

        ``vocab_size`` is the model's current number of embedding rows (default
        ``len(tokenizer)``). ``tail`` mode takes the ids just below ``tail_end`` (default
        ``tokenizer.vocab_size``, the base vocabulary). Raises :class:`TokenMappingError` when the
        mapping would touch a special or added token or needs more ids than exist.
        """
        num_symbols = int(num_symbols)
        if num_symbols < 1:
            raise TokenMappingError(f"token mapping needs at least one symbol (got {num_symbols})")
        n_tok = _tokenizer_len(tokenizer)
        rows = n_tok if vocab_size is None else int(vocab_size)
        eos = getattr(tokenizer, "eos_token_id", None)
        pad = getattr(tokenizer, "pad_token_id", None)
        if mode == "append":
            first = n_tok
            needed = max(rows, first + num_symbols)
        elif mode == "tail":
            end = int(tail_end if tail_end is not None else getattr(tokenizer, "vocab_size", n_tok))
            if num_symbols > end:
                raise TokenMappingError(
                    f"token mapping 'tail': {num_symbols} action symbols need more ids than the "
                    f"vocabulary's {end}; use token_mapping 'append' or a codec with fewer symbols"
                )
            first = end - num_symbols
            needed = max(rows, end)
        else:
            raise TokenMappingError(f"token mapping mode {mode!r}: expected one of {', '.join(MODES)}")
        mapping = cls(
            mode=mode,
            first_id=first,
            num_symbols=num_symbols,
            vocab_size=needed,
            descending=bool(descending),
            eos_token_id=None if eos is None else int(eos),
            pad_token_id=None if pad is None else int(pad),
        )
        mapping.check(tokenizer)
        return mapping

    def check(self, tokenizer: Any) -> None:
        """Raise :class:`TokenMappingError` if this mapping clashes with ``tokenizer``.

        Called by :meth:`build`; call it again when a saved mapping meets a tokenizer.
        """
        ids = set(range(self.first_id, self.last_id + 1))
        special = sorted(ids & _special_ids(tokenizer))
        if special:
            names = [str(tokenizer.convert_ids_to_tokens(i)) for i in special[:5]]
            raise TokenMappingError(
                f"token mapping '{self.mode}' ids [{self.first_id}, {self.last_id}] would overwrite "
                f"special token(s) {', '.join(f'{n!r} (id {i})' for n, i in zip(names, special))}; "
                "use token_mapping 'append' or fewer action symbols"
            )
        if self.mode == "append" and self.first_id < _tokenizer_len(tokenizer):
            raise TokenMappingError(
                f"token mapping 'append' starts at id {self.first_id} but the tokenizer already has "
                f"{_tokenizer_len(tokenizer)} tokens"
            )
        if self.mode == "tail":
            added = sorted(ids & _added_ids(tokenizer))
            if added:
                raise TokenMappingError(
                    f"token mapping 'tail' ids [{self.first_id}, {self.last_id}] would overwrite "
                    f"added token id(s) {added[:5]}; use token_mapping 'append'"
                )

    def check_texts(self, tokenizer: Any, texts: Iterable[str], max_texts: int = 100_000) -> None:
        """Raise :class:`TokenMappingError` when a ``tail`` mapping takes ids that ``texts`` (the
        training texts: instructions, questions, answers, the prompt) are written with, so that
        training would silently turn those words into action tokens. ``append`` never does.

        The first ``max_texts`` distinct texts are tokenized (without special tokens).
        """
        if self.mode != "tail":
            return
        seen: set[str] = set()
        clashes: dict[int, str] = {}
        for text in texts:
            if text in seen:
                continue
            seen.add(text)
            ids = tokenizer.encode(text, add_special_tokens=False)
            for i in ids:
                if self.first_id <= int(i) <= self.last_id and int(i) not in clashes:
                    clashes[int(i)] = text
            if len(seen) >= max_texts:
                break
        if clashes:
            shown = sorted(clashes)[:5]
            examples = ", ".join(
                f"{str(tokenizer.convert_ids_to_tokens(i))!r} (id {i}, in {clashes[i][:40]!r})" for i in shown
            )
            raise TokenMappingError(
                f"token mapping 'tail' ids [{self.first_id}, {self.last_id}] would overwrite "
                f"{len(clashes)} token(s) the training texts are written with: {examples}; "
                "use token_mapping 'append', or a codec with fewer symbols"
            )

    # -- ids ---------------------------------------------------------------------------------

    @property
    def last_id(self) -> int:
        """Greatest id used (inclusive)."""
        return self.first_id + self.num_symbols - 1

    def token_ids(self) -> list[int]:
        """Every action token id, in symbol order (symbol ``s`` -> ``token_ids()[s]``)."""
        ids = range(self.first_id, self.last_id + 1)
        return list(reversed(ids)) if self.descending else list(ids)

    def symbols_to_ids(self, symbols: Any) -> Any:
        """Symbols ``[...]`` int (numpy or torch) -> token ids, same kind, shape and device.

        Symbols must lie in ``[0, num_symbols)``; out-of-range values raise
        :class:`~vlakit.InvalidSymbols`.
        """
        symbols = _as_array(symbols)
        if _numel(symbols):
            lo, hi = int(symbols.min()), int(symbols.max())
            if lo < 0 or hi >= self.num_symbols:
                raise InvalidSymbols(
                    f"symbols must lie in [0, {self.num_symbols}); got values in [{lo}, {hi}]"
                )
        if self.descending:
            return self.last_id - symbols
        return symbols + self.first_id

    def ids_to_symbols(self, ids: Any, strict: bool = False) -> Any:
        """Token ids (numpy or torch) -> symbols, same kind, shape and device.

        Ids that are not action tokens become ``-1``, or raise :class:`~vlakit.InvalidSymbols`
        when ``strict``.
        """
        ids = _as_array(ids)
        sym = (self.last_id - ids) if self.descending else (ids - self.first_id)
        valid = (sym >= 0) & (sym < self.num_symbols)
        if strict and not bool(valid.all()):
            raise InvalidSymbols(
                f"token ids outside the action tokens [{self.first_id}, {self.last_id}] cannot be decoded"
            )
        if isinstance(sym, np.ndarray):
            return np.where(valid, sym, -1)
        return sym.masked_fill(~valid, -1)

    def is_action_id(self, ids: Any) -> Any:
        """Boolean mask (numpy or torch, like ``ids``) of the ids that are action tokens."""
        ids = _as_array(ids)
        return (ids >= self.first_id) & (ids <= self.last_id)

    def id_mask(self, vocab_size: int | None = None, device: Any = None) -> Any:
        """``torch.bool`` ``[vocab_size]`` with True at the action token ids."""
        import torch

        mask = torch.zeros(vocab_size or self.vocab_size, dtype=torch.bool, device=device)
        mask[self.first_id : self.last_id + 1] = True
        return mask

    # -- serialization -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActionTokenMapping:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = set(cls.__dataclass_fields__)
        extra = set(data) - known
        if extra:
            raise TokenMappingError(f"token mapping: unknown keys {sorted(extra)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise TokenMappingError(f"token mapping: {exc}") from exc
