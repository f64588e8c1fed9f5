"""Conformance check for :class:`vlakit.ActionCodec` implementations.

Optional codec methods the check uses when present (vlakit's own codecs have them):

``roundtrip_tolerance(actions) -> np.ndarray``
    for actions ``[B, H, D]``, the largest ``|decode(encode(a)) - a|`` the codec guarantees for
    each value (robot units; e.g. half a bin width inside the range plus the distance to the
    range outside it). Without it only shapes and dtypes of the round trip are checked.
``allowed_next_batch(prefix [B, P]) -> bool [B, num_symbols]``
    the batched :meth:`~vlakit.ActionCodec.allowed_next` used by constrained decoding; checked
    against it row by row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from vlakit.interfaces.codec import ActionCodec, InvalidSymbols

#: Relative and absolute slack on top of a codec's stated round-trip tolerance (float32 rounding).
RTOL = 1e-4
ATOL = 1e-5


def synthetic_actions(n: int, horizon: int, dim: int, seed: int = 0) -> np.ndarray:
    """Smooth, differently scaled action chunks ``[n, horizon, dim]`` float32 (last dim a 0/1 gripper).

    Each dimension is a random sinusoid plus a little noise with its own offset and scale, so
    codecs see unequal ranges, and trajectories are smooth as real ones are.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, horizon)[None, :, None]
    freq = rng.uniform(0.2, 1.5, size=(n, 1, dim))
    phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1, dim))
    scale = np.linspace(0.05, 3.0, dim)[None, None, :]
    offset = np.linspace(-1.0, 2.0, dim)[None, None, :]
    x = offset + scale * (np.sin(2 * np.pi * freq * t + phase) + 0.05 * rng.normal(size=(n, horizon, dim)))
    if dim > 1:
        x[..., -1] = (x[..., -1] > offset[..., -1]).astype(np.float64)
    return x.astype(np.float32)


def _fail(codec: ActionCodec, message: str) -> AssertionError:
    return AssertionError(f"{type(codec).__name__}: {message}")


def _check(codec: ActionCodec, condition: bool, message: str) -> None:
    if not condition:
        raise _fail(codec, message)


def _fresh(codec: ActionCodec, factory: Callable[[], ActionCodec] | None) -> ActionCodec:
    if factory is not None:
        return factory()
    try:
        return type(codec)()
    except TypeError as exc:
        raise _fail(codec, "cannot be built without arguments; pass factory= to check_action_codec") from exc


def _check_encoding(codec: ActionCodec, actions: np.ndarray) -> np.ndarray:
    symbols = codec.encode(actions)
    _check(codec, isinstance(symbols, np.ndarray), f"encode(numpy) returned {type(symbols).__name__}")
    _check(codec, symbols.dtype == np.int64, f"encode returned dtype {symbols.dtype}, expected int64")
    _check(codec, symbols.ndim == 2 and symbols.shape[0] == actions.shape[0], f"encode shape {symbols.shape}")
    k = symbols.shape[1]
    _check(codec, 1 <= k <= codec.max_length, f"encode gave K = {k}, max_length is {codec.max_length}")
    if codec.end_symbol is None:
        _check(
            codec, k == codec.max_length, f"fixed-length codec gave K = {k} != max_length {codec.max_length}"
        )
    else:
        _check(codec, bool((symbols == codec.end_symbol).any(axis=1).all()), "a row lacks the end symbol")
    _check(
        codec,
        bool(((symbols >= 0) & (symbols < codec.num_symbols)).all()),
        f"symbols outside [0, {codec.num_symbols})",
    )
    return symbols


def _check_decoding(codec: ActionCodec, actions: np.ndarray, symbols: np.ndarray) -> None:
    decoded = codec.decode(symbols)
    _check(codec, isinstance(decoded, np.ndarray), f"decode(numpy) returned {type(decoded).__name__}")
    _check(codec, decoded.dtype == np.float32, f"decode returned dtype {decoded.dtype}, expected float32")
    _check(codec, decoded.shape == actions.shape, f"decode shape {decoded.shape}, expected {actions.shape}")
    _check(codec, bool(np.isfinite(decoded).all()), "decode produced NaN or infinity")
    if codec.decodes_expectation:  # a one-hot distribution at every position decodes like its symbol
        onehot = np.eye(codec.num_symbols, dtype=np.float32)[symbols]
        expected = codec.decode_expected(onehot)
        _check(
            codec,
            isinstance(expected, np.ndarray) and expected.shape == decoded.shape,
            f"decode_expected(numpy) returned {type(expected).__name__} of shape {getattr(expected, 'shape', None)}",
        )
        _check(codec, np.allclose(expected, decoded, rtol=1e-6, atol=1e-6), "decode_expected(one-hot) != decode")
    tolerance = getattr(codec, "roundtrip_tolerance", None)
    if tolerance is None:
        return
    bound = np.asarray(tolerance(actions), dtype=np.float64)
    error = np.abs(decoded.astype(np.float64) - actions.astype(np.float64))
    slack = bound * RTOL + ATOL * np.maximum(1.0, np.abs(actions))
    worst = np.unravel_index(np.argmax(error - bound - slack), error.shape)
    _check(
        codec,
        bool((error <= bound + slack).all()),
        f"round trip error {error[worst]:.6g} at {tuple(int(i) for i in worst)} exceeds the stated "
        f"tolerance {bound[worst]:.6g} (value {actions[worst]:.6g})",
    )


def _check_state(codec: ActionCodec, actions: np.ndarray, symbols: np.ndarray, factory: Any) -> None:
    state = json.loads(json.dumps(codec.state_dict()))
    other = _fresh(codec, factory)
    other.load_state_dict(state)
    again = np.asarray(other.encode(actions))
    _check(
        codec, np.array_equal(again, symbols), "state_dict -> JSON -> load_state_dict changed the encoding"
    )
    _check(codec, other.num_symbols == codec.num_symbols, "num_symbols changed across a state round trip")
    _check(
        codec,
        np.array_equal(np.asarray(other.decode(symbols)), np.asarray(codec.decode(symbols))),
        "state_dict -> JSON -> load_state_dict changed the decoding",
    )


def _check_walks(codec: ActionCodec, rng: np.random.Generator, walks: int = 8) -> None:
    """Random walks along ``allowed_next`` end in decodable sequences of at most ``max_length``."""
    prefixes: list[list[int]] = []
    for _ in range(walks):
        prefix: list[int] = []
        while True:
            mask = np.asarray(codec.allowed_next(list(prefix)))
            _check(
                codec,
                mask.shape == (codec.num_symbols,) and mask.dtype == bool,
                f"allowed_next mask {mask.shape}",
            )
            if not mask.any():
                break
            _check(codec, len(prefix) < codec.max_length, "allowed_next allows more than max_length symbols")
            prefix.append(int(rng.choice(np.flatnonzero(mask))))
        if codec.end_symbol is None:
            _check(codec, len(prefix) == codec.max_length, f"a walk ended after {len(prefix)} symbols")
        else:
            _check(codec, prefix[-1] == codec.end_symbol, "a walk ended without the end symbol")
        try:
            decoded = np.asarray(codec.decode(np.asarray([prefix], dtype=np.int64)))
        except InvalidSymbols as exc:
            raise _fail(codec, f"decode refused a sequence allowed_next produced: {exc}") from exc
        _check(codec, decoded.shape[1:] == (codec.horizon, codec.action_dim), "walk decoded to a wrong shape")
        prefixes.append(prefix)
    if codec.end_symbol is None:  # fixed-length: the mask depends on the position only
        for p in range(codec.max_length + 1):
            masks = {np.asarray(codec.allowed_next(w[:p])).tobytes() for w in prefixes}
            _check(codec, len(masks) == 1, f"fixed-length codec's allowed_next depends on the symbols at {p}")
    batched = getattr(codec, "allowed_next_batch", None)
    if batched is not None:
        for p in range(0, min(len(w) for w in prefixes) + 1):
            rows = np.asarray([w[:p] for w in prefixes], dtype=np.int64).reshape(len(prefixes), p)
            expected = np.stack([np.asarray(codec.allowed_next(w[:p])) for w in prefixes])
            _check(
                codec,
                np.array_equal(np.asarray(batched(rows)), expected),
                "allowed_next_batch != allowed_next",
            )


def _check_torch(codec: ActionCodec, actions: np.ndarray, symbols: np.ndarray) -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a vlakit dependency
        return
    t_symbols = codec.encode(torch.from_numpy(actions))
    _check(codec, isinstance(t_symbols, torch.Tensor), "encode(torch) did not return a tensor")
    _check(codec, t_symbols.dtype == torch.int64, f"encode(torch) returned {t_symbols.dtype}")
    _check(codec, np.array_equal(t_symbols.cpu().numpy(), symbols), "encode(torch) != encode(numpy)")
    t_actions = codec.decode(t_symbols)
    _check(codec, isinstance(t_actions, torch.Tensor), "decode(torch) did not return a tensor")
    _check(codec, t_actions.dtype == torch.float32, f"decode(torch) returned {t_actions.dtype}")
    _check(codec, t_actions.device == t_symbols.device, "decode(torch) moved the tensor")
    _check(
        codec, np.array_equal(t_actions.numpy(), np.asarray(codec.decode(symbols))), "decode(torch) != numpy"
    )
    f64 = codec.decode(codec.encode(torch.from_numpy(actions.astype(np.float64))))
    _check(codec, f64.dtype == torch.float32, "decode after a float64 encode is not float32")


def _check_invalid(codec: ActionCodec, symbols: np.ndarray) -> None:
    bad = np.full_like(symbols, codec.num_symbols)
    try:
        codec.decode(bad)
    except InvalidSymbols:
        pass
    else:
        raise _fail(codec, "decode accepted symbols >= num_symbols instead of raising InvalidSymbols")
    if codec.end_symbol is not None:
        no_end = np.where(symbols == codec.end_symbol, 0 if codec.end_symbol else 1, symbols)
        try:
            codec.decode(no_end)
        except InvalidSymbols:
            pass
        else:
            raise _fail(codec, "decode accepted a sequence without its end symbol")


def check_action_codec(
    codec: ActionCodec,
    actions: np.ndarray | None = None,
    factory: Callable[[], ActionCodec] | None = None,
    seed: int = 0,
) -> None:
    """Check the :class:`~vlakit.ActionCodec` contract; raise ``AssertionError`` naming the broken part.

    ``actions`` ``[N, H, D]`` float32 (robot units) are used to fit an unfitted codec and to test
    it; by default smooth synthetic chunks of the codec's horizon (``D`` from the codec when it
    knows it, else 4). ``factory()`` builds a fresh codec for the state round trip (default
    ``type(codec)()``). Checks: encode shapes, dtype and range; decode shape and dtype; the round
    trip within the codec's stated ``roundtrip_tolerance``; state -> JSON -> state gives identical
    encodings; walks along ``allowed_next`` decode; numpy and torch inputs agree; malformed
    symbols raise :class:`~vlakit.InvalidSymbols`.
    """
    if actions is None:
        try:
            dim = codec.action_dim
        except Exception:  # noqa: BLE001 - unknown until fit
            dim = 4
        actions = synthetic_actions(512, codec.horizon, dim, seed)
    actions = np.asarray(actions, dtype=np.float32)
    _check(codec, actions.ndim == 3 and actions.shape[1] == codec.horizon, f"test actions {actions.shape}")
    if not codec.fitted:
        codec.fit(actions)
    _check(codec, codec.fitted, "still not fitted after fit()")
    _check(
        codec, codec.action_dim == actions.shape[2], f"action_dim {codec.action_dim} != {actions.shape[2]}"
    )
    symbols = _check_encoding(codec, actions)
    _check_decoding(codec, actions, symbols)
    for batch in (actions[:1], actions[:0]):
        out = np.asarray(codec.decode(codec.encode(batch)))
        _check(codec, out.shape == batch.shape, f"a batch of {len(batch)} decoded to shape {out.shape}")
    _check_state(codec, actions, symbols, factory)
    _check_walks(codec, np.random.default_rng(seed))
    _check_torch(codec, actions, symbols)
    _check_invalid(codec, symbols)
