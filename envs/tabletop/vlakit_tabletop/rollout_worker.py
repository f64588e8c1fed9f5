"""A worker process of parallel demonstration generation: ``python -m vlakit_tabletop.rollout_worker``.

Reads one JSON line from stdin, ``{"config": {...}, "blocks": [[start, stop], ...]}``, rolls out
each block of attempts in order (:func:`vlakit_tabletop.demos.rollouts`) and writes each to stdout
as the ``.npy`` records of its arrays (:func:`write_block`; no pickle, no copy). The parent reads
them into arrays of its own (:func:`read_block`) and kills the worker once it has enough.
"""

from __future__ import annotations

import ast
import io
import json
import struct
import sys

import numpy as np

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
    """Write a block's arrays to ``stream`` as ``.npy`` records (C order, no pickle, no copy)."""
    for name in FIELDS:
        array = np.ascontiguousarray(arrays[name])
        header = io.BytesIO()
        np.lib.format.write_array_header_2_0(header, np.lib.format.header_data_from_array_1_0(array))
        stream.write(header.getvalue())  # magic, version 2.0, header length and header
        stream.write(memoryview(array).cast("B") if array.size else b"")


def read_exactly(stream: io.BufferedIOBase, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the worker's stream ended in the middle of a block")
    return data


def read_block(stream: io.BufferedIOBase) -> dict[str, np.ndarray] | None:
    """The next block's arrays from ``stream``; ``None`` where it ends before one."""
    arrays: dict[str, np.ndarray] = {}
    for name in FIELDS:
        magic = stream.read(len(np.lib.format.MAGIC_PREFIX) + 2)
        if not magic and not arrays:
            return None
        if magic[:-2] != np.lib.format.MAGIC_PREFIX or magic[-2:] != bytes([2, 0]):
            raise EOFError("the worker's stream is not a block of .npy records")
        (length,) = struct.unpack("<I", read_exactly(stream, 4))
        header = ast.literal_eval(read_exactly(stream, length).decode("latin1"))
        dtype = np.lib.format.descr_to_dtype(header["descr"])
        if dtype.hasobject or header["fortran_order"]:
            raise EOFError("the worker's stream holds an array this reader refuses")
        array = np.empty(header["shape"], dtype=dtype)
        if array.size and stream.readinto(memoryview(array).cast("B")) != array.nbytes:
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
