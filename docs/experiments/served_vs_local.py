"""Success of a bundle's policy served by `vlakit serve` (driven through vlakit's websocket client)
against the same bundle in process, on the same tasks.

    python docs/experiments/served_vs_local.py BUNDLE [--episodes 100] [--split seen] [--port 8765]

Prints both success rates and how many episodes' outcomes differ (0 expected: the server runs the
same Policy.act_batch on the same observations).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

from vlakit.evaluation.run import evaluate_policy
from vlakit.policy import Policy
from vlakit.serve.client import RemotePolicy


class ServedBatch:
    """``act_batch`` over a served policy, one request per observation (first action of each chunk)."""

    def __init__(self, remote: RemotePolicy) -> None:
        self.remote = remote
        self.action_space = remote.action_space

    def act_batch(self, observations, instructions):
        return np.stack([self.remote.act(o, i)[0] for o, i in zip(observations, instructions)])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--split", default="seen")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    local = Policy.load(args.bundle)
    section = local.recipe.eval.model_copy(update={"episodes": args.episodes, "split": args.split, "gifs": 0})
    server = subprocess.Popen(
        [sys.executable, "-m", "vlakit", "serve", args.bundle, "--port", str(args.port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.5)
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            here = evaluate_policy(local, section, f"{out}/local", num_envs=1, echo=None, progress=False)
            local_s = time.perf_counter() - start
            with RemotePolicy(f"ws://127.0.0.1:{args.port}", timeout=30) as remote:
                start = time.perf_counter()
                served = evaluate_policy(ServedBatch(remote), section, f"{out}/served", num_envs=1, echo=None,
                                         progress=False)
                served_s = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
    a = [e.success for e in here.episodes]
    b = [e.success for e in served.episodes]
    print(f"local:  {sum(a)}/{len(a)} succeeded ({local_s:.1f} s)")
    print(f"served: {sum(b)}/{len(b)} succeeded ({served_s:.1f} s)")
    print(f"episodes whose outcome differs: {sum(x != y for x, y in zip(a, b))}")


if __name__ == "__main__":
    main()
