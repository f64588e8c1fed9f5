"""The action codec interface: continuous actions <-> discrete symbols."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def numpy_view(x: Any) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """``x`` (numpy array or torch tensor) as numpy, and a function that turns a numpy result
    back into the caller's kind (a tensor on ``x``'s device when ``x`` was a tensor).

    For codecs written with numpy that must honour "same kind in, same kind out".
    """
    if type(x).__module__.startswith("torch"):
        import torch

        device = x.device
        return x.detach().cpu().numpy(), lambda r: torch.as_tensor(r, device=device)
    return np.asarray(x), lambda r: r


class InvalidSymbols(ValueError):
    """Raised by :meth:`ActionCodec.decode` when a symbol sequence cannot be decoded.

    A codec never turns a malformed sequence into a silent default action.
    """


class ActionCodec(ABC):
    """Turns action chunks into symbol sequences and back.

    Shapes: actions are ``float32`` ``[B, H, D]`` in robot units (``H`` = :attr:`horizon`,
    ``D`` = action dimensions); symbols are ``int64`` ``[B, K]`` with every value in
    ``[0, num_symbols)``. Fixed-length codecs (bins) always produce ``K == max_length``;
    variable-length codecs pad each row after its :attr:`end_symbol`. For some codecs
    (``fast``) :attr:`num_symbols` and :attr:`end_symbol` are only known after :meth:`fit`.

    ``encode`` and ``decode`` accept numpy arrays or torch tensors and return the same kind,
    keeping the dtype family (float in, float out) and the device.

    A codec is *fitted* on training actions (statistics, bin edges, BPE merges); its whole
    fitted state is JSON-compatible (:meth:`state_dict`) so it can travel in a bundle and
    :meth:`load_state_dict` gives an identical codec.
    """

    #: Number of action steps per chunk ``H`` this codec encodes together.
    horizon: int = 1
    #: Whether :meth:`decode_expected` works: every symbol at every position stands for one value.
    decodes_expectation: bool = False

    @property
    @abstractmethod
    def num_symbols(self) -> int:
        """Size of the symbol alphabet (including the end symbol, if any)."""

    @property
    @abstractmethod
    def max_length(self) -> int:
        """Greatest number of symbols ``K`` one chunk can take (including the end symbol)."""

    @property
    def end_symbol(self) -> int | None:
        """Symbol that ends a variable-length sequence, or ``None`` for fixed-length codecs."""
        return None

    @property
    @abstractmethod
    def action_dim(self) -> int:
        """Action dimensions ``D`` (known after :meth:`fit` or from the config)."""

    @property
    def fitted(self) -> bool:
        """Whether the codec has the statistics it needs to encode."""
        return True

    @abstractmethod
    def fit(self, actions: np.ndarray) -> None:
        """Fit statistics on training actions ``[N, H, D]`` or ``[N, D]`` (robot units)."""

    @abstractmethod
    def encode(self, actions: Any) -> Any:
        """Actions ``[B, H, D]`` float -> symbols ``[B, K]`` int64. Out-of-range values clip."""

    @abstractmethod
    def decode(self, symbols: Any) -> Any:
        """Symbols ``[B, K]`` -> actions ``[B, H, D]`` float32 in robot units.

        Raises :class:`InvalidSymbols` for a sequence the codec cannot decode.
        """

    def decode_expected(self, probabilities: Any, discrete: Sequence[bool] | None = None) -> Any:
        """Per-position distributions ``[B, K, num_symbols]`` -> actions ``[B, H, D]`` float32:
        each value the probability-weighted mean of what the symbols at its position decode to
        (numpy or torch in, same kind out), except on the dimensions ``discrete`` marks (``[D]``,
        e.g. :attr:`ActionSpace.discrete`), which take the value of their most likely symbol: a
        flag is never set halfway. Only codecs with :attr:`decodes_expectation`."""
        raise NotImplementedError(f"{type(self).__name__} cannot decode by expectation: its symbols are not one value each")

    @abstractmethod
    def allowed_next(self, prefix: list[int]) -> np.ndarray:
        """Boolean mask ``[num_symbols]`` of the symbols allowed after ``prefix``.

        An all-False mask means the sequence is complete. Following this mask from an empty
        prefix always yields a sequence that :meth:`decode` accepts.
        """

    def allowed_next_batch(self, prefix: np.ndarray) -> np.ndarray:
        """Masks ``[B, num_symbols]`` for a batch of prefixes ``[B, P]`` (constrained decoding).

        Prefixes that are not valid get an all-False mask. The default asks :meth:`allowed_next`
        row by row; codecs can vectorize it (numpy or torch in, same kind out).
        """
        rows = []
        for row in np.asarray(prefix).tolist():
            try:
                rows.append(np.asarray(self.allowed_next(row), dtype=bool))
            except InvalidSymbols:
                rows.append(np.zeros(self.num_symbols, dtype=bool))
        return np.stack(rows)

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The whole fitted state, JSON-compatible (no arrays, no pickle)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state written by :meth:`state_dict`."""
