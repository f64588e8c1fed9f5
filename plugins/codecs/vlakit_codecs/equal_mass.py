"""``equal-mass-bins``: bin edges at each dimension's empirical quantiles.

``fit`` places the ``bins + 1`` edges of dimension ``d`` at the ``0, 1/bins, ..., 1`` quantiles of
its training values, so every bin holds the same share of the data: resolution goes where the
data is dense. A value ``x`` goes to the bin ``k`` with ``edge[k] <= x < edge[k + 1]`` (the last
bin includes the maximum; values below the minimum or above the maximum are clipped to the first
or last bin) and decodes to the median of the training values in that bin (the centre of the
edges for a bin that received none, which happens where edges coincide, e.g. a binary gripper).

Unlike centre-decoding codecs the round-trip error is bounded by the larger of the distances from
a bin's median to its two edges, not by half a bin width.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from vlakit_codecs._bins import BinCodec, compute_view
from vlakit_codecs.config import EqualMassBinsConfig


def _bin_medians(flat: np.ndarray, symbols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Median (lower median) of the values of each bin ``[bins, D]``; empty bins get their edge centre."""
    m, d = flat.shape
    bins = lower.shape[0]
    sorted_x = np.sort(flat, axis=0)
    counts = np.bincount((symbols + np.arange(d) * bins).ravel(), minlength=bins * d).reshape(d, bins).T
    starts = np.cumsum(counts, axis=0) - counts
    mid = np.clip(starts + (counts - 1) // 2, 0, m - 1)
    medians = np.take_along_axis(sorted_x, mid, axis=0)
    return np.where(counts > 0, medians, (lower + upper) / 2.0)


def _search(interior: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bin of each value: ``x`` ``[M, D]``, interior edges ``[D, bins - 1]`` -> ``[M, D]`` int64."""
    return torch.searchsorted(interior, x.T.contiguous(), right=True).T


class EqualMassBinsCodec(BinCodec):
    """Bins with equal training mass per dimension, decoded to the bin's median."""

    codec_name = "equal-mass-bins"
    config_class = EqualMassBinsConfig

    def _reset(self) -> None:
        super()._reset()
        self._edges: np.ndarray | None = None  # [bins + 1, D]
        self._medians: np.ndarray | None = None  # [bins, D]

    def _fit(self, flat: np.ndarray) -> None:
        probs = np.linspace(0.0, 1.0, self.bins + 1)
        edges = np.maximum.accumulate(np.quantile(flat, probs, axis=0), axis=0)
        interior = torch.from_numpy(np.ascontiguousarray(edges[1:-1].T))
        symbols = _search(interior, torch.from_numpy(flat)).numpy()
        self._edges = edges
        self._medians = _bin_medians(flat, symbols, edges[:-1], edges[1:])

    def _build(self) -> None:
        assert self._edges is not None and self._medians is not None
        self._interior_t = np.ascontiguousarray(self._edges[1:-1].T)  # [D, bins - 1]
        self._values = self._medians
        self._lower, self._upper = self._edges[:-1], self._edges[1:]
        self._finish_build()

    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        x = compute_view(x)
        return _search(self._tensor("_interior_t", x.device, x.dtype), x)

    def _state(self) -> dict[str, Any]:
        assert self._edges is not None and self._medians is not None
        return {"edges": self._edges.T.tolist(), "values": self._medians.T.tolist()}

    def _load(self, state: dict[str, Any]) -> None:
        edges = np.asarray(state["edges"], dtype=np.float64).T
        values = np.asarray(state["values"], dtype=np.float64).T
        if edges.ndim != 2 or edges.shape[0] != self.bins + 1 or values.shape != (self.bins, edges.shape[1]):
            raise ValueError(f"equal-mass-bins: state does not hold {self.bins} bins")
        self._edges, self._medians = edges, values
