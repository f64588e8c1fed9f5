"""Config models of the codecs (pydantic only, so registering the plugin stays light)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from vlakit import ComponentConfig


class _BinsConfig(ComponentConfig):
    bins: int = Field(256, ge=2, le=1 << 20, description="Number of bins (symbols) per action dimension.")
    horizon: int = Field(1, ge=1, description="Action steps H per chunk; symbols per chunk K = H * D.")


class UniformBinsConfig(_BinsConfig):
    """``uniform-bins``: equal-width bins over a per-dimension range."""

    low: list[float] | None = Field(
        None, description="Lower end of each dimension's range (robot units); fitted (min) when omitted."
    )
    high: list[float] | None = Field(
        None, description="Upper end of each dimension's range (robot units); fitted (max) when omitted."
    )
    convention: Literal["rt2", "openvla"] = Field(
        "rt2",
        description="'rt2': `bins` equal bins, decode to their centres. 'openvla': OpenVLA's "
        "ActionTokenizer (edges = linspace(low, high, bins), np.digitize, bins - 1 centres).",
    )

    @model_validator(mode="after")
    def _check_range(self) -> UniformBinsConfig:
        if (self.low is None) != (self.high is None):
            raise ValueError("give both low and high, or neither (then they are fitted)")
        if self.low is not None and self.high is not None:
            if len(self.low) != len(self.high) or not self.low:
                raise ValueError(
                    f"low and high need one entry per action dimension (got {len(self.low)} and {len(self.high)})"
                )
            bad = [i for i, (lo, hi) in enumerate(zip(self.low, self.high)) if not lo <= hi]
            if bad:
                raise ValueError(f"low > high in dimension(s) {bad}")
        return self


class QuantileBinsConfig(_BinsConfig):
    """``quantile-bins``: OpenVLA-style q01/q99 normalization to [-1, 1], then uniform bins."""

    low_quantile: float = Field(0.01, ge=0.0, lt=0.5, description="Quantile mapped to -1.")
    high_quantile: float = Field(0.99, gt=0.5, le=1.0, description="Quantile mapped to +1.")
    fixed_dims: list[int] = Field(
        default_factory=list,
        description="Dimensions (indices, negative allowed) not normalized by quantiles but binned "
        "over fixed_range, e.g. a binary gripper.",
    )
    fixed_range: tuple[float, float] = Field(
        (-1.0, 1.0), description="Range (robot units) of the fixed_dims, as OpenVLA's unnormalized dims."
    )

    @model_validator(mode="after")
    def _check_range(self) -> QuantileBinsConfig:
        if not self.fixed_range[0] < self.fixed_range[1]:
            raise ValueError(f"fixed_range must have low < high (got {list(self.fixed_range)})")
        return self


class EqualMassBinsConfig(_BinsConfig):
    """``equal-mass-bins``: bin edges at empirical quantiles, each bin holds the same share."""


class FastConfig(ComponentConfig):
    """``fast``: DCT over the chunk, scaled and rounded coefficients, BPE (arXiv 2501.09747)."""

    horizon: int = Field(10, ge=1, le=1024, description="Action steps H per chunk.")
    scale: float = Field(10.0, gt=0.0, description="DCT coefficients are multiplied by this, then rounded.")
    vocab_size: int = Field(
        1024, ge=2, le=65536, description="BPE vocabulary size (the end symbol comes on top)."
    )
    normalize: bool = Field(
        True, description="Map each dimension's quantile range to [-1, 1] (clipped) first."
    )
    low_quantile: float = Field(0.01, ge=0.0, lt=0.5, description="Quantile mapped to -1 when normalizing.")
    high_quantile: float = Field(0.99, gt=0.5, le=1.0, description="Quantile mapped to +1 when normalizing.")
    min_frequency: int = Field(2, ge=1, description="Least count of a pair for a BPE merge.")
