"""Property tests of the action codecs (hypothesis): round trip, clipping, shapes, dtypes, state."""

from __future__ import annotations

import json

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import vlakit

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FLOATS = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)


def build(name: str, **params):
    return vlakit.get_registry().get("codec", name).build(params)


def slack(x: np.ndarray) -> np.ndarray:
    """float32 rounding of values and bin computations."""
    return 1e-5 * np.maximum(1.0, np.abs(x))


@st.composite
def ranges(draw, max_dim: int = 4):
    d = draw(st.integers(1, max_dim))
    low = np.array(draw(st.lists(st.floats(-100, 100, width=32), min_size=d, max_size=d)), dtype=np.float64)
    span = np.array(
        draw(st.lists(st.floats(0.015625, 100, width=32), min_size=d, max_size=d)), dtype=np.float64
    )
    return low, low + span


def fit_data(seed: int, n: int, horizon: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.01, 50, size=dim)
    offset = rng.uniform(-50, 50, size=dim)
    t = np.linspace(0, 1, horizon)[None, :, None]
    wave = np.sin(2 * np.pi * rng.uniform(0.1, 1, (n, 1, dim)) * t + rng.uniform(0, 6.3, (n, 1, dim)))
    return (offset + scale * (wave + 0.1 * rng.normal(size=(n, horizon, dim)))).astype(np.float32)


# -- round trip and clipping ---------------------------------------------------------------------


@SETTINGS
@given(
    rng_=ranges(),
    bins=st.integers(2, 512),
    horizon=st.integers(1, 4),
    batch=st.integers(1, 16),
    convention=st.sampled_from(["rt2", "openvla"]),
    data=st.data(),
)
def test_uniform_bins_round_trip_within_half_a_bin_and_clip_outside(
    rng_, bins, horizon, batch, convention, data
):
    low, high = rng_
    codec = build(
        "uniform-bins",
        bins=bins,
        horizon=horizon,
        low=low.tolist(),
        high=high.tolist(),
        convention=convention,
    )
    low32, high32 = low.astype(np.float32), high.astype(np.float32)
    u = data.draw(hnp.arrays(np.float64, (batch, horizon, len(low)), elements=st.floats(0, 1)))
    inside = np.clip((low + u * (high - low)).astype(np.float32), low32, high32)
    width = (high - low) / (bins if convention == "rt2" else bins - 1)
    err = np.abs(codec.decode(codec.encode(inside)) - inside)
    assert (err <= width / 2 * (1 + 1e-4) + slack(inside)).all()

    far = data.draw(hnp.arrays(np.float32, inside.shape, elements=FLOATS))
    decoded = codec.decode(codec.encode(far))
    np.testing.assert_array_equal(decoded, codec.decode(codec.encode(np.clip(far, low32, high32))))
    assert (decoded >= low - slack(low)).all() and (decoded <= high + slack(high)).all()


@SETTINGS
@given(
    seed=st.integers(0, 2**31),
    bins=st.integers(2, 300),
    horizon=st.integers(1, 3),
    dim=st.integers(1, 4),
    data=st.data(),
)
def test_quantile_bins_round_trip_inside_the_quantiles_and_clip_outside(seed, bins, horizon, dim, data):
    codec = build("quantile-bins", bins=bins, horizon=horizon)
    codec.fit(fit_data(seed, 200, horizon, dim))
    low, high = codec.value_range()
    actions = data.draw(hnp.arrays(np.float32, (data.draw(st.integers(1, 8)), horizon, dim), elements=FLOATS))
    decoded = codec.decode(codec.encode(actions))
    inside = (actions >= low) & (actions <= high)
    half = np.broadcast_to((high - low) / bins / 2, actions.shape)
    err = np.abs(decoded - actions)
    assert (err[inside] <= half[inside] * (1 + 1e-4) + slack(actions)[inside]).all()
    assert (decoded >= low - slack(low)).all() and (decoded <= high + slack(high)).all()
    np.testing.assert_array_equal(
        decoded, codec.decode(codec.encode(np.clip(actions, low, high).astype(np.float32)))
    )


@SETTINGS
@given(
    seed=st.integers(0, 2**31),
    bins=st.integers(2, 300),
    horizon=st.integers(1, 3),
    dim=st.integers(1, 4),
    data=st.data(),
)
def test_equal_mass_bins_round_trip_within_the_bin_and_clip_outside(seed, bins, horizon, dim, data):
    codec = build("equal-mass-bins", bins=bins, horizon=horizon)
    train = fit_data(seed, 200, horizon, dim)
    codec.fit(train)
    lo, hi = train.reshape(-1, dim).min(axis=0), train.reshape(-1, dim).max(axis=0)
    actions = data.draw(hnp.arrays(np.float32, (data.draw(st.integers(1, 8)), horizon, dim), elements=FLOATS))
    actions = np.concatenate([actions, train[:4]])
    decoded = codec.decode(codec.encode(actions))
    assert (np.abs(decoded - actions) <= codec.roundtrip_tolerance(actions) + slack(actions)).all()
    assert (decoded >= lo - slack(lo)).all() and (decoded <= hi + slack(hi)).all()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), horizon=st.integers(1, 12), dim=st.integers(1, 4), scale=st.floats(1, 30))
def test_fast_round_trip_within_the_rounding_bound(seed, horizon, dim, scale):
    codec = build("fast", horizon=horizon, scale=scale, vocab_size=1024)
    train = fit_data(seed, 150, horizon, dim)
    codec.fit(train)
    actions = np.concatenate([train[:8], fit_data(seed + 1, 8, horizon, dim) * 3])
    decoded = codec.decode(codec.encode(actions))
    assert (np.abs(decoded - actions) <= codec.roundtrip_tolerance(actions) + slack(actions)).all()


# -- shapes, dtypes, devices, state --------------------------------------------------------------


def fitted(name: str, horizon: int, dim: int, seed: int = 0):
    params = {"horizon": horizon} | ({"vocab_size": 256, "scale": 5.0} if name == "fast" else {"bins": 64})
    codec = build(name, **params)
    codec.fit(fit_data(seed, 64, horizon, dim))
    return codec


CODEC_NAMES = st.sampled_from(["uniform-bins", "quantile-bins", "equal-mass-bins", "fast"])


@SETTINGS
@given(name=CODEC_NAMES, b=st.integers(1, 9), h=st.integers(1, 6), d=st.integers(1, 7))
def test_shapes_for_any_batch_horizon_and_dimension(name, b, h, d):
    codec = fitted(name, h, d)
    actions = fit_data(1, b, h, d)
    symbols = codec.encode(actions)
    assert symbols.shape[0] == b and symbols.dtype == np.int64
    assert symbols.shape[1] == (h * d if codec.end_symbol is None else symbols.shape[1])
    assert symbols.shape[1] <= codec.max_length
    assert ((symbols >= 0) & (symbols < codec.num_symbols)).all()
    assert codec.decode(symbols).shape == (b, h, d)


@SETTINGS
@given(
    name=CODEC_NAMES,
    kind=st.sampled_from(["numpy32", "numpy64", "torch32", "torch64", "torch16"]),
    h=st.integers(1, 3),
)
def test_array_kind_dtype_and_device_are_kept(name, kind, h):
    codec = fitted(name, h, 3)
    base = fit_data(2, 5, h, 3)
    dtype = {"16": torch.float16, "32": torch.float32, "64": torch.float64}[kind[-2:]]
    actions = base.astype(np.float64 if kind.endswith("64") else np.float32)
    if kind.startswith("torch"):
        actions = torch.from_numpy(base).to(dtype)
    symbols = codec.encode(actions)
    decoded = codec.decode(symbols)
    if kind.startswith("torch"):
        assert isinstance(symbols, torch.Tensor) and symbols.dtype == torch.int64
        assert isinstance(decoded, torch.Tensor) and decoded.dtype == torch.float32
        assert symbols.device == actions.device == decoded.device
    else:
        assert isinstance(symbols, np.ndarray) and symbols.dtype == np.int64
        assert isinstance(decoded, np.ndarray) and decoded.dtype == np.float32


@SETTINGS
@given(name=CODEC_NAMES, seed=st.integers(0, 2**31), h=st.integers(1, 4), d=st.integers(1, 5))
def test_state_json_round_trip_gives_identical_encodings(name, seed, h, d):
    codec = fitted(name, h, d, seed)
    state = json.loads(json.dumps(codec.state_dict()))
    other = build(name)
    other.load_state_dict(state)
    actions = fit_data(seed + 7, 16, h, d) * 1.5
    np.testing.assert_array_equal(other.encode(actions), codec.encode(actions))
    symbols = codec.encode(actions)
    np.testing.assert_array_equal(other.decode(symbols), codec.decode(symbols))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["uniform-bins", "quantile-bins", "equal-mass-bins", "fast"])
def test_cuda_tensors_stay_on_the_device(name):
    codec = fitted(name, 2, 3)
    actions = torch.from_numpy(fit_data(3, 8, 2, 3)).cuda()
    symbols = codec.encode(actions)
    decoded = codec.decode(symbols)
    assert symbols.is_cuda and decoded.is_cuda
    np.testing.assert_array_equal(symbols.cpu().numpy(), codec.encode(actions.cpu().numpy()))
