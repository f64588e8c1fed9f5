"""Simulator throughput: ``python -m vlakit_tabletop.bench [steps] [image_size]``."""

from __future__ import annotations

import sys
import time

import numpy as np
from vlakit_tabletop.config import TabletopConfig
from vlakit_tabletop.driver import TabletopDriver


def bench_simulator(steps: int = 20000, image_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Time ``steps`` driver steps (act + observe, i.e. dynamics and a rendered frame each).

    Actions are random; a new task is set up whenever an episode ends (its cost is included).
    Returns ``steps``, ``seconds``, ``steps_per_s`` and ``resets``.
    """
    rng = np.random.default_rng(seed)
    actions = rng.uniform([-0.1, -0.1, 0.0, 0.0], [0.1, 0.1, 1.0, 0.55], size=(steps, 4)).astype(np.float32)
    robot = TabletopDriver(TabletopConfig(image_size=image_size, max_steps=40, seed=seed))
    robot.connect()
    resets = 0
    start = time.perf_counter()
    for i in range(steps):
        if robot.done:
            resets += 1
            robot.reset_task(seed + resets, "seen")
        robot.act(actions[i])
        robot.observe()
    seconds = time.perf_counter() - start
    robot.disconnect()
    return {
        "steps": float(steps),
        "seconds": seconds,
        "steps_per_s": steps / seconds,
        "resets": float(resets),
    }


def main(argv: list[str] | None = None) -> None:
    """Print the simulator's steps per second."""
    args = sys.argv[1:] if argv is None else argv
    steps = int(args[0]) if args else 20000
    size = int(args[1]) if len(args) > 1 else 64
    r = bench_simulator(steps, size)
    print(
        f"tabletop simulator: {r['steps_per_s']:.0f} steps/s at {size}x{size} "
        f"({int(r['steps'])} steps incl. {int(r['resets'])} task resets, {r['seconds']:.2f} s, one core)"
    )


if __name__ == "__main__":
    main()
