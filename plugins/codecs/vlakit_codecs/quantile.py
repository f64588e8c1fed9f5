"""``quantile-bins``: OpenVLA-style normalization by the 1st and 99th percentiles, then uniform bins.

Each dimension ``d`` is mapped to ``n = 2 (x - q_lo) / (q_hi - q_lo) - 1``, clipped to ``[-1, 1]``,
and ``[-1, 1]`` is cut into ``bins`` equal bins decoded to their centres; a value therefore
round-trips within half a bin width, ``(q_hi - q_lo) / bins / 2`` in robot units, when it lies
inside ``[q_lo, q_hi]``, and outliers are clipped to the extreme bins. This is computed as the
equivalent uniform grid over ``[q_lo, q_hi]`` in robot units (one affine map instead of two).

``fixed_dims`` (e.g. a binary gripper) are not normalized: they are binned over ``fixed_range``
(default ``[-1, 1]``, as OpenVLA leaves such dimensions as they are). A dimension whose two
quantiles coincide (a constant) puts every value in bin 0 and decodes to that constant; there is
no division by zero.
"""

from __future__ import annotations

import numpy as np
from vlakit_codecs._bins import RangeBinCodec
from vlakit_codecs.config import QuantileBinsConfig


def quantile_range(flat: np.ndarray, low_q: float, high_q: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-dimension ``(q_lo, q_hi)`` float64 ``[D]`` of training values ``[M, D]``."""
    q = np.quantile(flat, [low_q, high_q], axis=0)
    return q[0].copy(), np.maximum(q[1], q[0])


class QuantileBinsCodec(RangeBinCodec):
    """Uniform bins in quantile-normalized space (OpenVLA's q01/q99 normalization)."""

    codec_name = "quantile-bins"
    config_class = QuantileBinsConfig

    def _fit(self, flat: np.ndarray) -> None:
        d = flat.shape[1]
        bad = [i for i in self.config.fixed_dims if not -d <= i < d]
        if bad:
            raise ValueError(f"quantile-bins: fixed_dims {bad} out of range for {d}-dimensional actions")
        lo, hi = quantile_range(flat, self.config.low_quantile, self.config.high_quantile)
        fixed = [i % d for i in self.config.fixed_dims]
        lo[fixed], hi[fixed] = self.config.fixed_range
        self._low, self._high = lo, hi

    def normalize(self, actions: np.ndarray) -> np.ndarray:
        """Actions ``[..., D]`` (robot units) -> normalized values in ``[-1, 1]`` (clipped), float64."""
        low, high = self.value_range()
        span = high - low
        safe = np.where(span > 0, span, 1.0)
        n = np.where(span > 0, 2.0 * (np.asarray(actions, dtype=np.float64) - low) / safe - 1.0, 0.0)
        return np.clip(n, -1.0, 1.0)
