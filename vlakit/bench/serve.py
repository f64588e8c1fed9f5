"""``vlakit bench serve``: what serving adds to a policy call, and what batching buys.

Everything runs on this machine over loopback: the server in a background thread, the clients
in threads, each with its own websocket connection (vlakit's :class:`RemotePolicy`). Figures:

* round-trip latency p50/p99 of one client against in-process ``Policy.act`` on the same
  observation (called from a worker thread, as the server calls it), and what serving adds:
  per call, the round trip minus the server's own ``act_batch`` time (the protocol, the
  sockets, the batcher and the thread hand-offs);
* throughput (requests/s) with 1, 4 and 16 concurrent clients, each sending its next request
  as soon as the last is answered, and the mean batch the server formed.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from vlakit.types import Observation


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = 1000 * np.asarray(seconds)
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "calls": len(ms)}


def _observation(cameras: tuple[str, ...], state_dim: int, size: int, seed: int) -> Observation:
    rng = np.random.default_rng(seed)
    images = {cam: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for cam in cameras}
    return Observation(images=images, state=np.zeros(state_dim, np.float32) if state_dim else None)


def _throughput(url: str, observations: list[Observation], clients: int, seconds: float) -> float:
    """Requests per second answered to ``clients`` connections over ``seconds``."""
    from vlakit.serve.client import RemotePolicy

    counts = [0] * clients
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()

    def client(i: int) -> None:
        try:
            with RemotePolicy(url, timeout=60.0) as remote:
                obs = observations[i % len(observations)]
                remote.act(obs, "bench")  # warm-up, not counted
                barrier.wait(60.0)
                while not stop.is_set():
                    remote.act(obs, "bench")
                    counts[i] += 1
        except BaseException as exc:  # reported after the run
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait(120.0)
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join(60.0)
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def bench_serve(
    bundle: str | Path,
    calls: int = 200,
    image_size: int = 64,
    clients: tuple[int, ...] = (1, 4, 16),
    seconds: float = 3.0,
    batch_size: int = 16,
    max_wait_ms: float = 2.0,
    device: str = "cpu",
    threads: int | None = None,
) -> dict[str, Any]:
    """Latency and throughput figures of serving ``bundle`` (see the module docstring)."""
    import torch

    from vlakit.policy.policy import Policy
    from vlakit.serve.client import RemotePolicy
    from vlakit.serve.server import PolicyServer, ServerThread
    from vlakit.serve.spec import PolicySpec

    if threads:
        torch.set_num_threads(threads)
    policy = Policy.load(bundle, device=device)
    spec = PolicySpec.from_bundle(bundle, policy)
    observations = [
        _observation(spec.cameras, spec.state_dim, image_size, seed) for seed in range(max(clients))
    ]
    obs = observations[0]
    result: dict[str, Any] = {
        "bundle": str(bundle),
        "cameras": list(spec.cameras),
        "image_size": image_size,
        "action_shape": [spec.horizon, spec.action_space.dim],
        "torch_threads": torch.get_num_threads(),
    }
    server = PolicyServer(policy, spec, port=0, max_batch_size=batch_size, max_wait=max_wait_ms / 1000)
    # In-process calls run in a worker thread, as the server (and `vlakit run`) call the policy:
    # torch's intra-op threading differs between the main thread and others. Local and remote
    # calls alternate, so that both see the same load on the machine.
    with ServerThread(server), ThreadPoolExecutor(max_workers=1) as executor:
        with RemotePolicy(server.url, timeout=60.0) as remote:
            local_times, remote_times, server_extra, server_infer = [], [], [], []
            for i in range(calls + 5):
                t0 = time.perf_counter()
                executor.submit(policy.act, obs, "bench").result()
                t1 = time.perf_counter()
                remote.act(obs, "bench")
                t2 = time.perf_counter()
                if i >= 5:  # warm-up
                    local_times.append(t1 - t0)
                    remote_times.append(t2 - t1)
                    timing = remote.last_timing
                    server_extra.append((timing["total_ms"] - timing["infer_ms"]) / 1000)
                    server_infer.append(timing["infer_ms"] / 1000)
        result["local"] = _percentiles(local_times)
        result["remote"] = _percentiles(remote_times)
        # What serving adds, per call: the round trip minus the server's own act_batch call (the
        # same model work in-process), so that the model's noise on a busy machine cancels out.
        result["added"] = _percentiles([r - i for r, i in zip(remote_times, server_infer)])
        result["server_overhead"] = _percentiles(server_extra)  # decode, queue, hand-offs, encode
        result["server_infer"] = _percentiles(server_infer)  # the server's act_batch call
        rows = []
        for n in clients:
            before = (server.batcher.requests, server.batcher.batches)
            rate = _throughput(server.url, observations, n, seconds)
            done = server.batcher.requests - before[0], server.batcher.batches - before[1]
            rows.append({"clients": n, "requests_per_s": rate, "mean_batch": done[0] / max(1, done[1])})
        base = rows[0]["requests_per_s"] if rows else 0.0
        for row in rows:
            row["speedup"] = row["requests_per_s"] / base if base else 0.0
        result["throughput"] = rows
    return result


def format_result(r: dict[str, Any]) -> str:
    """The figures as a short table."""
    cams = ", ".join(f"{c} {r['image_size']}x{r['image_size']}" for c in r["cameras"])
    lines = [
        f"serving {r['bundle']} over loopback (cameras: {cams}; actions {r['action_shape']}; "
        f"torch threads {r['torch_threads']})",
        f"  in-process Policy.act   p50 {r['local']['p50_ms']:8.2f} ms   p99 {r['local']['p99_ms']:8.2f} ms",
        f"  websocket round trip    p50 {r['remote']['p50_ms']:8.2f} ms   p99 {r['remote']['p99_ms']:8.2f} ms",
        f"  the server's act_batch  p50 {r['server_infer']['p50_ms']:8.2f} ms   p99 {r['server_infer']['p99_ms']:8.2f} ms",
        f"  added by serving        p50 {r['added']['p50_ms']:8.2f} ms   p99 {r['added']['p99_ms']:8.2f} ms"
        "   (round trip - act_batch, per call; target < 2 ms at p50)",
        f"    of which in the server p50 {r['server_overhead']['p50_ms']:.2f} ms (decode, queue, hand-off to "
        "the model thread and back, encode); the rest: client encode/decode and sockets",
    ]
    for row in r["throughput"]:
        lines.append(
            f"  {row['clients']:3d} client(s) {row['requests_per_s']:9.1f} requests/s   mean batch "
            f"{row['mean_batch']:5.1f}   {row['speedup']:5.2f}x one client"
            + ("   (target >= 4x)" if row["clients"] == 16 else "")
        )
    return "\n".join(lines)
