"""``uniform-bins``: RT-2's per-dimension uniform discretization (arXiv 2307.15818).

Conventions (``convention`` in the config), for a dimension with range ``[low, high]``:

``rt2`` (default)
    ``bins`` equal bins of width ``w = (high - low) / bins``; the value ``x`` goes to bin
    ``floor((clip(x, low, high) - low) / w)`` (``high`` itself goes to the last bin) and decodes
    to that bin's centre ``low + (k + 0.5) w``. Round-trip error is at most ``w / 2`` inside the
    range; outside it values are clipped, never wrapped.

``openvla``
    OpenVLA's ``ActionTokenizer`` (prismatic/vla/action_tokenizer.py) exactly:
    ``edges = np.linspace(low, high, bins)`` (``bins`` edges, so only ``bins - 1`` intervals of
    width ``(high - low) / (bins - 1)``), ``symbol = np.digitize(clip(x, low, high), edges) - 1``
    (in ``[0, bins)``; the top symbol ``bins - 1`` is reached only by ``x == high``), decoded to
    ``centres[min(symbol, bins - 2)]`` where ``centres`` are the ``bins - 1`` interval midpoints.
    OpenVLA's token id is ``vocab_size - digitize(x)``, i.e. ``vocab_size - 1 - symbol``: an
    :class:`vlakit.tokens.ActionTokenMapping` in ``tail`` mode with ``descending=True`` gives
    the same ids. Compared with ``rt2`` the bins are ``bins / (bins - 1)`` times wider, one
    symbol is spent on the single value ``high``, and the comparison is done in float64.

The range is given in the config (``low``, ``high``, one entry per dimension) or fitted as the
per-dimension min and max of the training actions.
"""

from __future__ import annotations

import numpy as np
import torch
from vlakit_codecs._bins import RangeBinCodec
from vlakit_codecs.config import UniformBinsConfig


class UniformBinsCodec(RangeBinCodec):
    """Equal-width bins over ``[low, high]`` per dimension (RT-2, or OpenVLA's variant)."""

    codec_name = "uniform-bins"
    config_class = UniformBinsConfig

    def _reset(self) -> None:
        super()._reset()
        self._configured_range()

    def _configured_range(self) -> None:
        """A range given in the config makes the codec fitted from the start."""
        if getattr(self, "config", None) is not None and self.config.low is not None:
            self._low = np.asarray(self.config.low, dtype=np.float64)
            self._high = np.asarray(self.config.high, dtype=np.float64)
            self._build()

    @property
    def openvla(self) -> bool:
        """Whether OpenVLA's ActionTokenizer convention is in use."""
        return self.config.convention == "openvla"

    def _fit(self, flat: np.ndarray) -> None:
        if self.config.low is not None:
            if flat.shape[1] != len(self.config.low):
                raise ValueError(
                    f"uniform-bins: actions have {flat.shape[1]} dimensions, the configured range "
                    f"{len(self.config.low)}"
                )
            return
        self._low = flat.min(axis=0)
        self._high = flat.max(axis=0)

    def _build(self) -> None:
        if not self.openvla:
            super()._build()
            return
        assert self._low is not None and self._high is not None
        edges = np.linspace(self._low, self._high, self.bins)  # [bins, D]: np.linspace(min, max, n_bins)
        centres = (edges[:-1] + edges[1:]) / 2.0
        self._edges_t = np.ascontiguousarray(edges.T)  # [D, bins]
        self._values = np.concatenate([centres, centres[-1:]], axis=0)
        self._lower = np.concatenate([edges[:-1], edges[-1:]], axis=0)
        self._upper = edges.copy()
        self._finish_build()

    def _encode_flat(self, x: torch.Tensor) -> torch.Tensor:
        if not self.openvla:
            return super()._encode_flat(x)
        # np.digitize(np.clip(x, low, high), edges) - 1; digitize is searchsorted(side="right").
        x = x.to(torch.float64)
        x = torch.minimum(
            torch.maximum(x, self._tensor("_low", x.device, x.dtype)),
            self._tensor("_high", x.device, x.dtype),
        )
        idx = torch.searchsorted(self._tensor("_edges_t", x.device, x.dtype), x.T.contiguous(), right=True)
        return (idx - 1).clamp_(0, self.bins - 1).T
