"""First-party action codecs for vlakit: ``uniform-bins``, ``quantile-bins``, ``equal-mass-bins``, ``fast``.

Written as a third-party plugin would be: it uses only vlakit's public API and registers through
the ``vlakit`` entry-point group. Importing it is light (pydantic configs only); a codec's module,
with torch and tokenizers, is imported when the codec is built.
"""

from __future__ import annotations

from typing import Any

from vlakit_codecs.config import EqualMassBinsConfig, FastConfig, QuantileBinsConfig, UniformBinsConfig
from vlakit_codecs.errors import NotFittedError

from vlakit import hookimpl

#: The vlakit plugin API this plugin is written for.
VLAKIT_PLUGIN_API = 1

__all__ = [
    "EqualMassBinsConfig",
    "FastConfig",
    "NotFittedError",
    "QuantileBinsConfig",
    "UniformBinsConfig",
    "register_action_codecs",
]


def _uniform_bins(config: UniformBinsConfig) -> Any:
    from vlakit_codecs.uniform import UniformBinsCodec

    return UniformBinsCodec(config)


def _quantile_bins(config: QuantileBinsConfig) -> Any:
    from vlakit_codecs.quantile import QuantileBinsCodec

    return QuantileBinsCodec(config)


def _equal_mass_bins(config: EqualMassBinsConfig) -> Any:
    from vlakit_codecs.equal_mass import EqualMassBinsCodec

    return EqualMassBinsCodec(config)


def _fast(config: FastConfig) -> Any:
    from vlakit_codecs.fast import FastCodec

    return FastCodec(config)


@hookimpl
def register_action_codecs(register: Any) -> None:
    """Register the four codecs with their config models."""
    register(
        "uniform-bins",
        _uniform_bins,
        config=UniformBinsConfig,
        description="RT-2 uniform bins per dimension over a configured or fitted range "
        "(or OpenVLA's ActionTokenizer convention)",
    )
    register(
        "quantile-bins",
        _quantile_bins,
        config=QuantileBinsConfig,
        description="OpenVLA-style q01/q99 normalization to [-1, 1], then uniform bins",
    )
    register(
        "equal-mass-bins",
        _equal_mass_bins,
        config=EqualMassBinsConfig,
        description="bin edges at empirical quantiles (equal training mass per bin), decoded to bin medians",
    )
    register(
        "fast",
        _fast,
        config=FastConfig,
        description="FAST: DCT over the action chunk, scaled and rounded coefficients, BPE, end symbol",
    )
