"""The common machinery of the per-dimension bin codecs.

A chunk ``[H, D]`` becomes ``K = H * D`` symbols, step-major (all dimensions of step 0, then of
step 1, ...), each symbol the bin index ``[0, bins)`` of one value. A subclass decides where the
bins are (:meth:`BinCodec._fit`, :meth:`BinCodec._build`) and how a value finds its bin
(:meth:`BinCodec._encode_flat`); decoding is a table lookup of one representative value per bin
and dimension, identical for every subclass.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from vlakit_codecs._arrays import (
    as_tensor,
    check_actions,
    check_symbols,
    compute_dtype,
    fit_matrix,
    like_input,
    numpy_f64,
    prefix_array,
)
from vlakit_codecs.errors import NotFittedError

from vlakit import ActionCodec, InvalidSymbols

STATE_FORMAT = 1


class BinCodec(ActionCodec):
    """One symbol per action value; fixed length ``K = horizon * action_dim``.

    Subclasses fill, in :meth:`_build`, the float64 tables ``[bins, D]`` :attr:`_values` (what
    each bin decodes to), :attr:`_lower` and :attr:`_upper` (the bin's value interval, used for
    the round-trip error bound).
    """

    codec_name: ClassVar[str] = ""
    config_class: ClassVar[type] = type(None)
    decodes_expectation = True

    def __init__(self, config: Any = None) -> None:
        self.config = config if config is not None else self.config_class()
        self.horizon = int(self.config.horizon)
        self._reset()

    def _reset(self) -> None:
        self._dim: int | None = None
        self._values: np.ndarray | None = None
        self._lower: np.ndarray | None = None
        self._upper: np.ndarray | None = None
        self._cache: dict[tuple[str, str, torch.dtype], torch.Tensor] = {}

    # -- sizes ---------------------------------------------------------------------------------

    @property
    def bins(self) -> int:
        """Bins per dimension."""
        return int(self.config.bins)

    @property
    def num_symbols(self) -> int:
        return self.bins

    @property
    def action_dim(self) -> int:
        if self._dim is None:
            raise NotFittedError(f"{self.codec_name}: the action dimension is unknown until fit()")
        return self._dim

    @property
    def max_length(self) -> int:
        return self.horizon * self.action_dim

    @property
    def fitted(self) -> bool:
        return self._values is not None

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"{self.codec_name}: call fit(actions) or load_state_dict() first")

    # -- subclass hooks --------------------------------------------------------------------------

    @abstractmethod
    def _fit(self, flat: np.ndarray) -> None:
        """Set the statistics from training values ``[M, D]`` float64 (then :meth:`_build` runs)."""

    @abstractmethod
    def _build(self) -> None:
        """Compute ``_dim``, ``_values``, ``_lower``, ``_upper`` (and encode tables) from the statistics."""

    @abstractmethod
    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        """Values ``[M, D]`` float -> bin indices ``[M, D]`` int64 in ``[0, bins)`` (clipped)."""

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """The fitted statistics, JSON-compatible."""

    @abstractmethod
    def _load(self, state: dict[str, Any]) -> None:
        """Restore the statistics written by :meth:`_state`."""

    def _tensor(self, name: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """The numpy attribute ``name`` as a tensor on ``device`` (cached)."""
        key = (name, str(device), dtype)
        cached = self._cache.get(key)
        if cached is None:
            cached = torch.as_tensor(np.ascontiguousarray(getattr(self, name)), dtype=dtype, device=device)
            self._cache[key] = cached
        return cached

    def _finish_build(self) -> None:
        """Called by subclasses at the end of :meth:`_build`."""
        assert self._values is not None and self._lower is not None and self._upper is not None
        self._dim = int(self._values.shape[1])
        self._cache = {}
        self._flat_values = self._values.astype(np.float32).reshape(-1)
        self._max_error = np.maximum(self._values - self._lower, self._upper - self._values).max(axis=0)

    # -- the codec -----------------------------------------------------------------------------

    def fit(self, actions: Any) -> None:
        """Fit on training actions ``[N, H, D]`` or ``[N, D]`` (robot units)."""
        self._fit(fit_matrix(actions))
        self._build()

    def encode(self, actions: Any) -> Any:
        """Actions ``[B, H, D]`` float (numpy or torch) -> symbols ``[B, H * D]`` int64, same kind/device."""
        self._require_fitted()
        t, was_numpy = as_tensor(actions)
        t = check_actions(t, self.horizon, self.action_dim, self.codec_name)
        symbols = self._encode_flat(t.reshape(-1, self.action_dim))
        return like_input(symbols.reshape(t.shape[0], self.max_length), was_numpy)

    def decode(self, symbols: Any) -> Any:
        """Symbols ``[B, H * D]`` int -> actions ``[B, H, D]`` float32 (robot units), same kind/device."""
        self._require_fitted()
        t, was_numpy = as_tensor(symbols)
        t = check_symbols(t, self.bins, self.codec_name, length=self.max_length)
        d = self.action_dim
        table = self._tensor("_flat_values", t.device, torch.float32)
        index = t.reshape(-1, d) * d
        index += torch.arange(d, device=t.device)
        out = table[index]
        return like_input(out.reshape(t.shape[0], self.horizon, d), was_numpy)

    def decode_expected(self, probabilities: Any, discrete: Sequence[bool] | None = None) -> Any:
        """Distributions ``[B, H * D, bins]`` over each value's bins -> actions ``[B, H, D]``
        float32: per value, ``sum_k p_k * value_k`` (the bins' representatives; robot units); on
        the dimensions ``discrete`` (``[D]``) marks, the representative of the most likely bin."""
        self._require_fitted()
        p, was_numpy = as_tensor(probabilities)
        if p.ndim != 3 or p.shape[1:] != (self.max_length, self.bins):
            raise ValueError(
                f"{self.codec_name}: expected probabilities [B, {self.max_length}, {self.bins}], got {tuple(p.shape)}"
            )
        d = self.action_dim
        values = self._tensor("_values", p.device, torch.float32)  # [bins, D]
        per_value = p.float().reshape(p.shape[0], self.horizon, d, self.bins)
        out = torch.einsum("bhdk,kd->bhd", per_value, values)
        if discrete is not None and any(discrete):
            if len(discrete) != d:
                raise ValueError(f"{self.codec_name}: discrete needs one flag per action dimension ({d}), got {len(discrete)}")
            flags = torch.tensor([bool(x) for x in discrete], device=out.device)
            most_likely = values.t()[torch.arange(d, device=out.device), per_value.argmax(-1)]  # [B, H, D]
            out = torch.where(flags, most_likely, out)
        return like_input(out, was_numpy)

    def allowed_next(self, prefix: list[int]) -> np.ndarray:
        """Every bin while fewer than ``K`` symbols were written, then nothing."""
        self._require_fitted()
        n = prefix_array(prefix, self.bins, self.codec_name).size
        if n > self.max_length:
            raise InvalidSymbols(
                f"{self.codec_name}: prefix of {n} symbols is longer than K = {self.max_length}"
            )
        return np.full(self.bins, n < self.max_length, dtype=bool)

    def allowed_next_batch(self, prefix: Any) -> Any:
        """Batched :meth:`allowed_next`: prefixes ``[B, P]`` -> bool ``[B, num_symbols]`` (same kind)."""
        self._require_fitted()
        t, was_numpy = as_tensor(prefix)
        if t.ndim != 2 or t.shape[1] > self.max_length:
            raise InvalidSymbols(f"{self.codec_name}: prefixes must be [B, P] with P <= {self.max_length}")
        mask = torch.full(
            (t.shape[0], self.bins), t.shape[1] < self.max_length, dtype=torch.bool, device=t.device
        )
        return like_input(mask, was_numpy)

    def roundtrip_tolerance(self, actions: Any) -> np.ndarray:
        """Largest ``|decode(encode(a)) - a|`` guaranteed for each value of ``actions`` (robot units).

        Inside the range: the farthest a bin's representative lies from its bin's edges (half a
        bin width for centre-decoding codecs); outside it the value is clipped, so the distance to
        the range is added. float64, the shape of ``actions``.
        """
        self._require_fitted()
        a = numpy_f64(actions)
        assert self._lower is not None and self._upper is not None
        lo, hi = self._lower[0], self._upper[-1]
        outside = np.maximum(np.maximum(lo - a, a - hi), 0.0)
        return self._max_error + outside

    def value_range(self) -> tuple[np.ndarray, np.ndarray]:
        """``(low, high)`` float64 ``[D]``: the range encoded without clipping (robot units)."""
        self._require_fitted()
        assert self._lower is not None and self._upper is not None
        return self._lower[0].copy(), self._upper[-1].copy()

    # -- state ---------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "codec": self.codec_name,
            "format": STATE_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "fitted": self.fitted,
        }
        if self.fitted:
            state.update(self._state())
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("codec") != self.codec_name:
            raise ValueError(f"{self.codec_name}: state was written by codec {state.get('codec')!r}")
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"{self.codec_name}: unsupported state format {state.get('format')!r}")
        self.config = self.config_class.model_validate(state["config"])
        self.horizon = int(self.config.horizon)
        self._reset()
        if state.get("fitted"):
            self._load(state)
            self._build()

    def __repr__(self) -> str:
        dim = self._dim if self._dim is not None else "?"
        return f"{type(self).__name__}(bins={self.bins}, horizon={self.horizon}, dim={dim})"


def grid_encode(
    x: torch.Tensor, lo: torch.Tensor, inv_width: torch.Tensor, bins: int, degenerate: bool
) -> torch.Tensor:
    """Equal-width bins: ``floor((x - lo) * inv_width)`` clipped to ``[0, bins)``; ``[M, D]`` int64.

    ``inv_width`` is 0 for a dimension whose range is a single value (``degenerate``), whose
    values then all fall in bin 0 (infinities are clamped first so that ``inf * 0`` cannot occur).
    """
    if degenerate:
        x = torch.nan_to_num(x, posinf=torch.finfo(x.dtype).max, neginf=torch.finfo(x.dtype).min)
    u = x - lo
    u.mul_(inv_width).clamp_(0, bins - 1)
    return u.to(torch.int64)


def uniform_tables(lo: np.ndarray, hi: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, lower, upper)`` float64 ``[bins, D]`` of equal-width bins over ``[lo, hi]``."""
    width = (hi - lo) / bins
    k = np.arange(bins, dtype=np.float64)[:, None]
    lower = lo + k * width
    upper = lo + (k + 1) * width
    upper[-1] = hi
    values = lo + (k + 0.5) * width
    return values, lower, upper


def compute_view(x: torch.Tensor) -> torch.Tensor:
    """``x`` in the dtype the codecs compute in (float64 stays, anything else float32)."""
    return x.to(compute_dtype(x))


class RangeBinCodec(BinCodec):
    """Equal-width bins over a per-dimension range ``[low, high]`` (float64 ``[D]`` each).

    Subclasses set ``_low`` / ``_high`` in :meth:`_fit`; a dimension with ``low == high`` puts
    every value in bin 0 and decodes to that value (no division by zero).
    """

    def _reset(self) -> None:
        super()._reset()
        self._low: np.ndarray | None = None
        self._high: np.ndarray | None = None

    def _build(self) -> None:
        assert self._low is not None and self._high is not None
        span = self._high - self._low
        self._degenerate = bool((span <= 0).any())
        self._inv_width = np.where(span > 0, self.bins / np.where(span > 0, span, 1.0), 0.0)
        self._values, self._lower, self._upper = uniform_tables(self._low, self._high, self.bins)
        self._finish_build()

    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        x = compute_view(x)
        lo = self._tensor("_low", x.device, x.dtype)
        inv = self._tensor("_inv_width", x.device, x.dtype)
        return grid_encode(x, lo, inv, self.bins, self._degenerate)

    def _state(self) -> dict[str, Any]:
        assert self._low is not None and self._high is not None
        return {"low": self._low.tolist(), "high": self._high.tolist()}

    def _load(self, state: dict[str, Any]) -> None:
        low = np.asarray(state["low"], dtype=np.float64)
        high = np.asarray(state["high"], dtype=np.float64)
        if low.ndim != 1 or low.shape != high.shape or not (low <= high).all():
            raise ValueError(f"{self.codec_name}: state has an invalid range")
        self._low, self._high = low, high
