"""Throughput of the registered action codecs, on one CPU core.

``bench_codecs`` encodes and decodes ``n_actions`` actions of ``dim`` dimensions with every codec
(numpy in, numpy out, ``torch.set_num_threads(1)``, tokenizers' thread pool off) and reports
action-dimensions per second; it measures a plain per-action Python loop implementation of
uniform bins on a subset in the same run for comparison, and FAST's tokens per chunk against the
``H * D`` symbols of plain binning on smooth trajectories. ``python -m vlakit.bench.codec``
prints the table.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from vlakit.environ import environ_set, torch_threads

LOOP_ACTIONS = 20_000
FIT_CHUNKS = 20_000


def smooth_trajectories(n_actions: int, horizon: int, dim: int, seed: int = 0) -> np.ndarray:
    """Smooth chunks ``[n_actions // horizon, horizon, dim]`` float32: sums of two slow sinusoids."""
    rng = np.random.default_rng(seed)
    n = max(1, n_actions // horizon)
    t = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[None, :, None]
    out = np.zeros((n, horizon, dim), dtype=np.float32)
    for _ in range(2):
        freq = rng.uniform(0.1, 1.0, size=(n, 1, dim)).astype(np.float32)
        phase = rng.uniform(0.0, 2 * np.pi, size=(n, 1, dim)).astype(np.float32)
        out += np.sin(2 * np.pi * freq * t + phase)
    return out * np.linspace(0.1, 1.0, dim, dtype=np.float32)


def loop_uniform_bins(
    actions: list[list[float]], low: list[float], high: list[float], bins: int
) -> list[list[float]]:
    """The naive reference: per action, per dimension, clip, bin, and decode to the bin centre."""
    decoded = []
    for action in actions:
        symbols = []
        for x, lo, hi in zip(action, low, high):
            width = (hi - lo) / bins
            x = min(max(x, lo), hi)
            symbols.append(min(int((x - lo) / width), bins - 1))
        decoded.append([lo + (k + 0.5) * (hi - lo) / bins for k, lo, hi in zip(symbols, low, high)])
    return decoded


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """torch on one thread and tokenizers' parallelism off, restored afterwards."""
    with torch_threads(1), environ_set({"TOKENIZERS_PARALLELISM": "false"}):
        yield


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_one(name: str, n_actions: int, dim: int, repeat: int = 3) -> dict[str, Any]:
    """Encode + decode throughput of codec ``name`` (default config) on ``n_actions`` actions."""
    from vlakit.plugins import get_registry

    codec = get_registry().get("codec", name).build({})
    chunks = smooth_trajectories(n_actions, codec.horizon, dim)
    codec.fit(chunks[:FIT_CHUNKS])
    enc_s, symbols = _best(lambda: codec.encode(chunks), repeat)
    dec_s, _ = _best(lambda: codec.decode(symbols), repeat)
    n_dims = chunks.size
    row: dict[str, Any] = {
        "codec": name,
        "actions": chunks.shape[0] * chunks.shape[1],
        "dim": dim,
        "horizon": codec.horizon,
        "encode_s": enc_s,
        "decode_s": dec_s,
        "action_dims_per_s": n_dims / (enc_s + dec_s),
        "binning_symbols_per_chunk": codec.horizon * dim,
    }
    if codec.end_symbol is not None:
        lengths = np.argmax(np.asarray(symbols) == codec.end_symbol, axis=1) + 1
        row["tokens_per_chunk"] = float(lengths.mean())
        row["compression"] = codec.horizon * dim / float(lengths.mean())
    else:
        row["tokens_per_chunk"] = float(codec.max_length)
    return row


def bench_loop(dim: int, n_actions: int = LOOP_ACTIONS, bins: int = 256) -> dict[str, Any]:
    """The per-action Python loop of uniform bins, encode + decode, on ``n_actions`` actions."""
    actions = smooth_trajectories(n_actions, 1, dim)[:, 0]
    low, high = actions.min(axis=0).tolist(), actions.max(axis=0).tolist()
    rows = actions.tolist()
    seconds, _ = _best(lambda: loop_uniform_bins(rows, low, high, bins), 1)
    return {
        "codec": "uniform-bins (python loop)",
        "actions": n_actions,
        "dim": dim,
        "horizon": 1,
        "encode_s": seconds,
        "decode_s": 0.0,
        "action_dims_per_s": n_actions * dim / seconds,
        "binning_symbols_per_chunk": dim,
        "tokens_per_chunk": float(dim),
    }


def bench_codecs(
    n_actions: int = 1_000_000, dim: int = 7, names: list[str] | None = None, repeat: int = 3
) -> list[dict[str, Any]]:
    """One row per codec (and the Python loop), with ``action_dims_per_s`` and, for the
    uniform bins, ``speedup_vs_loop``; prints nothing (see :func:`format_table`)."""
    from vlakit.plugins import get_registry

    names = names or get_registry().names("codec")
    with one_core():
        rows = [bench_one(name, n_actions, dim, repeat) for name in names]
        loop = bench_loop(dim, min(LOOP_ACTIONS, n_actions))
    for row in rows:
        row["speedup_vs_loop"] = row["action_dims_per_s"] / loop["action_dims_per_s"]
    return [*rows, loop]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows of :func:`bench_codecs` as a text table."""
    head = f"{'codec':<28}{'actions':>10}{'H':>4}{'encode s':>10}{'decode s':>10}{'Mdims/s':>10}{'x loop':>8}{'tok/chunk':>11}{'H*D':>6}"
    lines = [head, "-" * len(head)]
    for r in rows:
        speedup = f"{r['speedup_vs_loop']:.0f}" if "speedup_vs_loop" in r else "1"
        lines.append(
            f"{r['codec']:<28}{r['actions']:>10}{r['horizon']:>4}{r['encode_s']:>10.3f}{r['decode_s']:>10.3f}"
            f"{r['action_dims_per_s'] / 1e6:>10.1f}{speedup:>8}{r['tokens_per_chunk']:>11.1f}"
            f"{r['binning_symbols_per_chunk']:>6}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m vlakit.bench.codec [--actions N] [--dim D] [--codec NAME ...]``."""
    parser = argparse.ArgumentParser(description="vlakit action codec throughput on one CPU core")
    parser.add_argument("--actions", type=int, default=1_000_000, help="actions to encode and decode")
    parser.add_argument("--dim", type=int, default=7, help="action dimensions")
    parser.add_argument("--codec", action="append", help="codec name (repeatable; default all)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    args = parser.parse_args(argv)
    rows = bench_codecs(args.actions, args.dim, args.codec, args.repeat)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
