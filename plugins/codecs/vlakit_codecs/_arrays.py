"""numpy / torch plumbing shared by the codecs: input checks and returning the caller's kind."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from vlakit import InvalidSymbols


def as_tensor(x: Any) -> tuple[torch.Tensor, bool]:
    """``(tensor, was_numpy)``; numpy arrays (and lists) are wrapped without a copy when possible."""
    if isinstance(x, torch.Tensor):
        return x, False
    arr = np.ascontiguousarray(x)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.from_numpy(arr), True


def like_input(t: torch.Tensor, was_numpy: bool) -> Any:
    """Return ``t`` as a numpy array when the input was numpy."""
    return t.numpy() if was_numpy else t


def compute_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 inputs are computed in float64, everything else in float32."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def check_actions(t: torch.Tensor, horizon: int, dim: int, codec: str) -> torch.Tensor:
    """Validate actions ``[B, H, D]`` and return them as a float tensor (NaN refused)."""
    if t.ndim != 3 or t.shape[1] != horizon or t.shape[2] != dim:
        raise ValueError(f"{codec}: actions must have shape [B, {horizon}, {dim}], got {list(t.shape)}")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    if t.numel() and bool(torch.isnan(t).any()):
        raise ValueError(f"{codec}: actions contain NaN")
    return t


def check_symbols(t: torch.Tensor, num_symbols: int, codec: str, length: int | None = None) -> torch.Tensor:
    """Validate symbols ``[B, K]`` (integers in ``[0, num_symbols)``); return them as int64."""
    if t.ndim != 2:
        raise InvalidSymbols(f"{codec}: symbols must have shape [B, K], got {list(t.shape)}")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise InvalidSymbols(f"{codec}: symbols must be integers, got {t.dtype}")
    if length is not None and t.shape[1] != length:
        raise InvalidSymbols(f"{codec}: expected {length} symbols per chunk, got {t.shape[1]}")
    t = t.to(torch.int64)
    if t.numel():
        lo, hi = (int(v) for v in torch.aminmax(t))
        if lo < 0 or hi >= num_symbols:
            raise InvalidSymbols(
                f"{codec}: symbols must lie in [0, {num_symbols}), got values in [{lo}, {hi}]"
            )
    return t


def numpy_f64(x: Any) -> np.ndarray:
    """Any array-like (numpy, torch on any device, lists) as a float64 numpy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def fit_matrix(actions: Any) -> np.ndarray:
    """Training actions ``[N, H, D]`` or ``[N, D]`` -> float64 ``[N * H, D]`` (finite values only)."""
    arr = numpy_f64(actions)
    if arr.ndim not in (2, 3) or arr.shape[0] == 0 or arr.shape[-1] == 0:
        raise ValueError(
            f"fit: actions must have shape [N, H, D] or [N, D] with N, D >= 1, got {list(arr.shape)}"
        )
    flat = arr.reshape(-1, arr.shape[-1])
    if not np.isfinite(flat).all():
        raise ValueError("fit: actions contain NaN or infinity")
    return flat


def prefix_array(prefix: Any, num_symbols: int, codec: str) -> np.ndarray:
    """A symbol prefix (list or array) as int64 ``[P]``, every value checked."""
    arr = np.asarray(prefix, dtype=np.int64).reshape(-1)
    if arr.size and (arr.min() < 0 or arr.max() >= num_symbols):
        raise InvalidSymbols(f"{codec}: prefix symbols must lie in [0, {num_symbols})")
    return arr
