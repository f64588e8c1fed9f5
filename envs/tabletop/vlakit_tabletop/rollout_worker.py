"""A worker process of parallel demonstration generation: ``python -m vlakit_tabletop.rollout_worker``.

Reads one JSON line from stdin, ``{"config": {...}, "blocks": [[start, stop], ...]}``, rolls out
each block of attempts in order (:func:`vlakit_tabletop.demos.rollouts`) and writes each to stdout
as the ``.npy`` records of its arrays (:func:`write_block`; no pickle, no copy). The parent reads
them into arrays of its own (:func:`read_block`) and kills the worker once it has enough.
"""

from __future__ import annotations

import io
import json
import sys

import numpy as np
from vlakit_tabletop.npy_stream import read_npy, write_npy

#: arrays of a block, in frame order; per episode: attempt, length, instruction, family, seed
FIELDS = ("attempts", "lengths", "images", "states", "actions", "aims", "anchors", "instructions", "families", "seeds")


def block_arrays(rollouts: list) -> dict[str, np.ndarray]:
    """A block of rollouts (:data:`vlakit_tabletop.demos.Rollout` tuples) as the arrays of :data:`FIELDS`."""
    columns = list(zip(*rollouts)) if rollouts else [()] * 9
    attempts, images, states, actions, aims, anchors, instructions, families, seeds = columns

    def frames(parts: tuple, width: tuple, dtype: str) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros((0, *width), dtype=dtype)

    return {
        "attempts": np.asarray(attempts, dtype=np.int64),
        "lengths": np.asarray([len(a) for a in actions], dtype=np.int64),
        "images": frames(images, (0, 0, 3), "uint8"),
        "states": frames(states, (3,), "float32"),
        "actions": frames(actions, (4,), "float32"),
        "aims": frames(aims, (2,), "float32"),
        "anchors": frames(anchors, (2,), "float32"),
        "instructions": np.asarray(instructions, dtype=np.str_),
        "families": np.asarray(families, dtype=np.str_),
        "seeds": np.asarray(seeds, dtype=np.int64),
    }


def write_block(stream: io.BufferedIOBase, arrays: dict[str, np.ndarray]) -> None:
    """Write a block's arrays to ``stream`` as ``.npy`` records (no pickle, no copy)."""
    for name in FIELDS:
        write_npy(stream, arrays[name])


def read_block(stream: io.BufferedReader) -> dict[str, np.ndarray] | None:
    """The next block's arrays from ``stream``; ``None`` where it ends before one."""
    first = read_npy(stream)
    if first is None:
        return None
    arrays = {FIELDS[0]: first}
    for name in FIELDS[1:]:
        array = read_npy(stream)
        if array is None:
            raise EOFError("the worker's stream ended in the middle of a block")
        arrays[name] = array
    return arrays


def block_rollouts(a: dict[str, np.ndarray]) -> list:
    """The rollouts of a block's arrays (:func:`block_arrays`), in attempt order (views, no copy)."""
    ends = np.cumsum(a["lengths"])
    starts = ends - a["lengths"]
    return [
        (int(a["attempts"][i]), *(a[k][lo:hi] for k in ("images", "states", "actions", "aims", "anchors")),
         str(a["instructions"][i]), str(a["families"][i]), int(a["seeds"][i]))
        for i, (lo, hi) in enumerate(zip(starts, ends))
    ]


def main() -> None:
    from vlakit_tabletop.config import TabletopDemosConfig
    from vlakit_tabletop.demos import rollouts

    request = json.loads(sys.stdin.readline())
    config = TabletopDemosConfig.model_validate(request["config"])
    out = sys.stdout.buffer
    for start, stop in request["blocks"]:
        write_block(out, block_arrays(list(rollouts(config, range(start, stop)))))
        out.flush()


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:  # the parent had enough
        sys.exit(0)
