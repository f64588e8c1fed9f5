"""The first-party action codecs: conformance, conventions, edge cases. Real arrays, no mocks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import vlakit
from vlakit import InvalidSymbols, VlakitError
from vlakit.testing import check_action_codec
from vlakit.testing.codec import synthetic_actions
from vlakit.tokens import ActionTokenMapping

CODECS = ["uniform-bins", "quantile-bins", "equal-mass-bins", "fast"]


def build(name: str, **params):
    return vlakit.get_registry().get("codec", name).build(params)


def test_all_four_codecs_are_registered_with_descriptions():
    regs = {r.name: r for r in vlakit.get_registry().list("codec")}
    assert set(CODECS) <= set(regs)
    for name in CODECS:
        assert regs[name].description
        assert regs[name].dist == "vlakit-codecs"


@pytest.mark.parametrize("reg", vlakit.get_registry().list("codec"), ids=lambda r: r.name)
def test_every_registered_codec_passes_conformance_with_its_default_config(reg):
    check_action_codec(reg.build({}), factory=lambda: reg.build({}))


@pytest.mark.parametrize(
    "name, params",
    [
        ("uniform-bins", {"bins": 16, "horizon": 4}),
        ("uniform-bins", {"bins": 64, "low": [-1, 0, 2], "high": [1, 1, 5], "convention": "openvla"}),
        ("quantile-bins", {"bins": 32, "horizon": 3, "fixed_dims": [-1], "fixed_range": [0, 1]}),
        ("equal-mass-bins", {"bins": 8, "horizon": 2}),
        ("fast", {"horizon": 4, "scale": 4.0, "vocab_size": 64}),
        ("fast", {"horizon": 6, "normalize": False, "vocab_size": 512}),
    ],
)
def test_conformance_with_other_configs(name, params):
    codec = build(name, **params)
    dim = len(params["low"]) if "low" in params else 3
    actions = synthetic_actions(256, codec.horizon, dim, seed=3)
    check_action_codec(codec, actions, factory=lambda: build(name))


def test_importing_the_plugin_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, vlakit_codecs; print('torch' in sys.modules, 'tokenizers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- uniform-bins -------------------------------------------------------------------------------


def test_uniform_bins_decode_to_bin_centres_and_clip():
    codec = build("uniform-bins", bins=4, low=[0.0], high=[1.0])
    x = np.array([[[-5.0]], [[0.0]], [[0.1]], [[0.25]], [[0.6]], [[1.0]], [[7.0]]], dtype=np.float32)
    assert codec.encode(x).ravel().tolist() == [0, 0, 0, 1, 2, 3, 3]
    np.testing.assert_allclose(
        codec.decode(codec.encode(x)).ravel(), [0.125, 0.125, 0.125, 0.375, 0.625, 0.875, 0.875]
    )


def test_uniform_bins_fit_min_max_and_symbol_order_is_step_major():
    codec = build("uniform-bins", bins=10, horizon=2)
    data = np.array([[[0.0, -10.0], [1.0, 10.0]]], dtype=np.float32)
    codec.fit(data)
    np.testing.assert_array_equal(codec.value_range()[0], [0.0, -10.0])
    symbols = codec.encode(np.array([[[0.05, -9.0], [0.95, 9.0]]], dtype=np.float32))
    assert symbols.tolist() == [[0, 0, 9, 9]]


def test_uniform_bins_openvla_convention_reproduces_openvla_token_ids():
    """OpenVLA's ActionTokenizer: ids = vocab_size - np.digitize(clip(a, -1, 1), linspace(-1, 1, 256))."""
    codec = build("uniform-bins", bins=256, low=[-1.0] * 7, high=[1.0] * 7, convention="openvla")
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1.3, 1.3, size=(4000, 1, 7))
    actions[:7, 0, :] = np.array([-1.0, 1.0, 0.0, -1.5, 1.5, 1 / 255, -1 / 255])[:, None]
    vocab_size = 32000
    edges = np.linspace(-1.0, 1.0, 256)
    reference_ids = vocab_size - np.digitize(np.clip(actions, -1.0, 1.0), edges)
    mapping = ActionTokenMapping(
        mode="tail", first_id=vocab_size - 256, num_symbols=256, vocab_size=vocab_size, descending=True
    )
    for dtype in (np.float64, np.float32):
        a = actions.astype(dtype)
        ref = vocab_size - np.digitize(np.clip(a, -1.0, 1.0), edges)
        ids = mapping.symbols_to_ids(codec.encode(a))
        np.testing.assert_array_equal(ids, ref.reshape(len(a), -1))
    # and OpenVLA's decode_token_ids_to_actions
    centres = (edges[:-1] + edges[1:]) / 2.0
    discretized = np.clip(vocab_size - reference_ids - 1, 0, centres.shape[0] - 1)
    expected = centres[discretized]
    decoded = codec.decode(mapping.ids_to_symbols(reference_ids.reshape(len(actions), -1), strict=True))
    np.testing.assert_allclose(decoded, expected.astype(np.float32), rtol=0, atol=1e-7)


def test_uniform_bins_config_is_validated():
    reg = vlakit.get_registry().get("codec", "uniform-bins")
    for bad in (
        {"low": [0, 1]},
        {"low": [0], "high": [1, 2]},
        {"low": [2], "high": [1]},
        {"bins": 1},
        {"bin": 3},
    ):
        with pytest.raises(Exception) as err:
            reg.build(bad)
        assert "validation error" in str(err.value).lower()


def test_constant_dimension_uniform_bins_decodes_to_the_constant():
    codec = build("uniform-bins", bins=8)
    data = np.zeros((10, 1, 2), dtype=np.float32)
    data[:, 0, 1] = 3.5
    data[:, 0, 0] = np.linspace(-1, 1, 10)
    codec.fit(data)
    out = codec.decode(
        codec.encode(np.array([[[0.0, 3.5]], [[0.0, np.inf]], [[0.0, -1e30]]], dtype=np.float32))
    )
    np.testing.assert_array_equal(out[:, 0, 1], [3.5, 3.5, 3.5])


# -- quantile-bins ------------------------------------------------------------------------------


def test_quantile_bins_normalize_by_q01_q99_and_clip_outliers():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(20000, 1, 2)) * [1.0, 5.0]
    codec = build("quantile-bins", bins=256)
    codec.fit(data)
    low, high = codec.value_range()
    np.testing.assert_allclose(low, np.quantile(data.reshape(-1, 2), 0.01, axis=0))
    np.testing.assert_allclose(high, np.quantile(data.reshape(-1, 2), 0.99, axis=0))
    outliers = np.array([[[100.0, -100.0]]])
    assert codec.encode(outliers).tolist() == [[255, 0]]
    np.testing.assert_allclose(codec.normalize(outliers[0, 0]), [1.0, -1.0])
    # inside the range: half a bin width of the normalized [-1, 1] interval, in robot units
    inside = np.clip(data[:500], low, high)
    half = (high - low) / 256 / 2
    assert (np.abs(codec.decode(codec.encode(inside)) - inside) <= half * (1 + 1e-5) + 1e-6).all()


def test_quantile_bins_equal_quantiles_do_not_divide_by_zero():
    data = np.ones((1000, 1, 3))
    data[:, 0, 2] = np.r_[np.zeros(500), np.ones(500)]
    data[:3, 0, 1] = [7.0, -7.0, 2.0]  # q01 == q99 == 1 despite outliers
    codec = build("quantile-bins", bins=16)
    with np.errstate(all="raise"):
        codec.fit(data)
        out = codec.decode(codec.encode(np.array([[[1.0, 5.0, 0.0]]])))
    np.testing.assert_allclose(out[0, 0, :2], [1.0, 1.0])
    assert np.isfinite(out).all()


def test_quantile_bins_fixed_dims_use_the_fixed_range():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(1000, 1, 3))
    data[:, 0, 2] = rng.integers(0, 2, size=1000)  # a binary gripper
    codec = build("quantile-bins", bins=256, fixed_dims=[-1])
    codec.fit(data)
    low, high = codec.value_range()
    assert (low[2], high[2]) == (-1.0, 1.0)  # OpenVLA leaves such dimensions unnormalized
    grip = np.array([[[0.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]]])
    np.testing.assert_allclose(codec.decode(codec.encode(grip))[:, 0, 2], [1 / 256, 1 - 1 / 256], atol=1e-6)
    with pytest.raises(ValueError, match="fixed_dims"):
        build("quantile-bins", fixed_dims=[5]).fit(data)


# -- equal-mass-bins ----------------------------------------------------------------------------


def test_equal_mass_bins_hold_equal_shares_and_decode_to_bin_medians():
    rng = np.random.default_rng(3)
    data = rng.exponential(size=(64000, 1, 2))
    codec = build("equal-mass-bins", bins=64)
    codec.fit(data)
    symbols = codec.encode(data)
    counts = np.stack([np.bincount(symbols[:, d], minlength=64) for d in range(2)])
    assert counts.min() >= 990 and counts.max() <= 1010
    decoded = codec.decode(symbols)
    for d in range(2):
        for k in (0, 17, 63):
            members = data[symbols[:, d] == k, 0, d]
            assert decoded[symbols[:, d] == k, 0, d][0] == pytest.approx(
                np.sort(members)[(len(members) - 1) // 2]
            )


def test_equal_mass_bins_binary_dimension_round_trips_exactly():
    data = np.zeros((1000, 1, 1))
    data[600:] = 1.0
    codec = build("equal-mass-bins", bins=16)
    codec.fit(data)
    np.testing.assert_array_equal(
        codec.decode(codec.encode(np.array([[[0.0]], [[1.0]]]))).ravel(), [0.0, 1.0]
    )


# -- fast ---------------------------------------------------------------------------------------


def smooth(n: int, horizon: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, horizon)[None, :, None]
    return np.sin(2 * np.pi * rng.uniform(0.1, 0.8, (n, 1, dim)) * t + rng.uniform(0, 6.3, (n, 1, dim)))


def test_fast_compresses_smooth_chunks_and_pads_with_the_end_symbol():
    data = smooth(3000, 10, 7)
    codec = build("fast", horizon=10)
    codec.fit(data)
    symbols = codec.encode(data[:200])
    lengths = np.argmax(symbols == codec.end_symbol, axis=1) + 1
    assert lengths.mean() < 0.5 * 10 * 7  # much shorter than H * D binning symbols
    for row, n in zip(symbols, lengths):
        assert (row[n:] == codec.end_symbol).all()
    assert symbols.shape[1] == lengths.max()
    err = np.abs(codec.decode(symbols) - data[:200])
    assert (err <= codec.roundtrip_tolerance(data[:200]) + 1e-5).all()


def test_fast_dct_matches_the_orthonormal_dct_ii():
    from vlakit_codecs.fast import dct_matrix

    h = 7
    m = dct_matrix(h)
    np.testing.assert_allclose(m @ m.T, np.eye(h), atol=1e-12)
    x = np.random.default_rng(0).normal(size=h)
    n = np.arange(h)
    naive = np.array([np.sum(x * np.cos(np.pi * k * (2 * n + 1) / (2 * h))) for k in range(h)])
    naive *= np.sqrt(2 / h)
    naive[0] /= np.sqrt(2)
    np.testing.assert_allclose(m @ x, naive, atol=1e-12)


def test_fast_malformed_sequences_raise_invalid_symbols():
    codec = build("fast", horizon=5, vocab_size=128)
    codec.fit(smooth(500, 5, 3))
    good = codec.encode(smooth(4, 5, 3, seed=9))
    end = codec.end_symbol
    no_end = np.where(good == end, 0, good)
    short = np.array([[good[0, 0], end]])  # too few coefficients
    body = good[0, : int(np.argmax(good[0] == end))]
    twice = np.concatenate([body, body, [end]])[None, :]  # 2 * H * D coefficients
    single_chars = np.flatnonzero(codec._lens == 1)
    too_many = np.array([[single_chars[0]] * 16 + [end]])
    for bad in (no_end, short, twice, too_many, np.zeros((1, 0), dtype=np.int64), np.array([[end]])):
        with pytest.raises(InvalidSymbols):
            codec.decode(bad)
    with pytest.raises(InvalidSymbols):
        codec.decode(good.astype(np.float32))
    with pytest.raises(InvalidSymbols):
        codec.decode(good - 1_000)


def test_fast_allowed_next_tracks_the_coefficient_budget():
    codec = build("fast", horizon=4, vocab_size=64, scale=2.0)
    codec.fit(smooth(400, 4, 2))
    budget = codec.coefficients
    single = int(np.flatnonzero(codec._lens == 1)[0])
    prefix: list[int] = []
    for _ in range(budget):
        mask = codec.allowed_next(prefix)
        assert not mask[codec.end_symbol]
        assert (codec._lens[mask[:-1]] <= budget - len(prefix)).all()
        prefix.append(single)
    assert codec.allowed_next(prefix).tolist() == [False] * (codec.num_symbols - 1) + [True]
    prefix.append(codec.end_symbol)
    assert not codec.allowed_next(prefix).any()
    with pytest.raises(InvalidSymbols):
        codec.allowed_next([single] * (budget + 1))


def test_fast_fit_on_a_trajectory_cuts_windows_and_refuses_a_too_small_vocabulary():
    trajectory = smooth(1, 400, 2)[0]
    codec = build("fast", horizon=8)
    codec.fit(trajectory)  # [N, D]
    assert codec.action_dim == 2
    with pytest.raises(ValueError, match="vocab_size"):
        build("fast", horizon=50, vocab_size=16).fit(smooth(10, 50, 2))


@pytest.mark.parametrize("name", ["uniform-bins", "quantile-bins", "equal-mass-bins"])
def test_bin_codecs_decode_the_expectation_of_each_values_bins(name):
    """decode_expected: per value, the probability-weighted mean of what its bins decode to."""
    codec = build(name, bins=8, horizon=2)
    codec.fit(synthetic_actions(200, 2, 3, seed=4))
    assert codec.decodes_expectation
    table = codec.decode(np.tile(np.arange(8)[:, None], (1, 6)))  # [8, 2, 3]: every bin's value
    probs = np.zeros((1, 6, 8), dtype=np.float32)
    probs[0, :, 2] = 0.25
    probs[0, :, 5] = 0.75
    expected = codec.decode_expected(probs)
    assert expected.dtype == np.float32 and expected.shape == (1, 2, 3)
    np.testing.assert_allclose(expected[0], 0.25 * table[2] + 0.75 * table[5], rtol=1e-6)
    as_torch = codec.decode_expected(torch.from_numpy(probs))
    assert isinstance(as_torch, torch.Tensor) and torch.allclose(as_torch, torch.from_numpy(expected))
    with pytest.raises(ValueError, match=r"\[B, 6, 8\]"):
        codec.decode_expected(np.zeros((1, 5, 8), dtype=np.float32))


@pytest.mark.parametrize("name", ["uniform-bins", "quantile-bins", "equal-mass-bins"])
def test_expectation_never_sets_a_discrete_dimension_between_two_levels(name):
    """On a dimension the action space marks discrete (a gripper flag), decode_expected gives the
    most likely bin's value, one of the levels the codec decodes to, never a value strictly
    between two of them, whatever the distribution; continuous dimensions keep the expectation."""
    rng = np.random.default_rng(0)
    actions = synthetic_actions(300, 1, 2, seed=5)
    actions[..., 1] = rng.integers(0, 2, size=actions.shape[:-1])  # a 0/1 flag
    codec = build(name, bins=16, horizon=1)
    codec.fit(actions)
    levels = np.unique(codec.decode(np.arange(16)[:, None].repeat(2, axis=1))[:, 0, 1])
    probs = rng.dirichlet(np.full(16, 0.3), size=(500, 2)).astype(np.float32)  # [B, K=2, bins]
    probs[:20, 1] = 0.0
    probs[:20, 1, 0] = probs[:20, 1, -1] = 0.5  # two modes of equal weight: the mean would be halfway
    plain = codec.decode_expected(probs)
    safe = codec.decode_expected(probs, discrete=(False, True))
    np.testing.assert_array_equal(safe[..., 0], plain[..., 0])
    assert np.isin(safe[..., 1], levels).all()
    argmax = codec.decode(probs.argmax(-1))
    np.testing.assert_array_equal(safe[..., 1], argmax[..., 1])
    between = (plain[:20, 0, 1] > levels.min()) & (plain[:20, 0, 1] < levels.max())
    assert between.all()  # without the flag the two-mode rows land between the levels
    with pytest.raises(ValueError, match="one flag per action dimension"):
        codec.decode_expected(probs, discrete=(True,))


def test_fast_cannot_decode_by_expectation():
    codec = build("fast", horizon=4, vocab_size=64, scale=4.0)
    codec.fit(synthetic_actions(64, 4, 3))
    assert not codec.decodes_expectation
    with pytest.raises(NotImplementedError, match="expectation"):
        codec.decode_expected(np.zeros((1, codec.max_length, codec.num_symbols), dtype=np.float32))


# -- shared behaviour ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", CODECS)
def test_unfitted_codecs_say_so(name):
    codec = build(name)
    assert not codec.fitted
    with pytest.raises(VlakitError, match="fit"):
        codec.encode(np.zeros((1, codec.horizon, 2), dtype=np.float32))
    state = json.loads(json.dumps(codec.state_dict()))
    other = build(name)
    other.load_state_dict(state)
    assert not other.fitted


@pytest.mark.parametrize("name", CODECS)
def test_wrong_shapes_and_nan_are_refused(name):
    codec = build(name, horizon=2)
    codec.fit(synthetic_actions(64, 2, 3))
    for bad in (np.zeros((4, 3, 3)), np.zeros((4, 2, 2)), np.zeros((2, 3))):
        with pytest.raises(ValueError, match=r"shape \[B, 2, 3\]"):
            codec.encode(bad.astype(np.float32))
    with pytest.raises(ValueError, match="NaN"):
        codec.encode(np.full((1, 2, 3), np.nan, dtype=np.float32))


@pytest.mark.parametrize("name", CODECS)
def test_state_from_one_config_loads_into_a_default_codec(name):
    params = {"horizon": 3} | ({"vocab_size": 100} if name == "fast" else {"bins": 32})
    codec = build(name, **params)
    actions = synthetic_actions(128, 3, 4, seed=5)
    codec.fit(actions)
    other = build(name)
    other.load_state_dict(json.loads(json.dumps(codec.state_dict())))
    assert other.horizon == 3 and other.num_symbols == codec.num_symbols
    np.testing.assert_array_equal(other.encode(actions), codec.encode(actions))
    with pytest.raises(ValueError, match="state"):
        build("uniform-bins" if name != "uniform-bins" else "fast").load_state_dict(codec.state_dict())


@pytest.mark.parametrize("name", CODECS)
def test_torch_float16_and_int_inputs(name):
    codec = build(name, horizon=2)
    actions = synthetic_actions(64, 2, 3)
    codec.fit(actions)
    half = torch.from_numpy(actions).half()
    symbols = codec.encode(half)
    assert symbols.dtype == torch.int64 and symbols.device == half.device
    assert codec.decode(symbols).dtype == torch.float32
    assert codec.encode(np.round(actions).astype(np.int32)).dtype == np.int64
