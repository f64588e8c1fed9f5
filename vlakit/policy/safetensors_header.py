"""Checking a safetensors file's header against the format before any loader reads it.

The format (huggingface/safetensors): an unsigned 64-bit little-endian header length ``N``, ``N``
bytes of UTF-8 JSON mapping each tensor name to ``{"dtype", "shape", "data_offsets": [begin,
end]}`` (plus an optional ``"__metadata__"`` of strings), then the byte buffer the offsets index;
the tensors fill the buffer exactly, without holes or overlaps.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from vlakit.errors import BundleError

#: dtype code -> bytes per element
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
#: the largest header safetensors itself accepts
MAX_HEADER = 100_000_000


def check_safetensors(path: str | Path, where: str = "") -> dict[str, dict]:
    """Validate the header of the safetensors file ``path``; return ``name -> {dtype, shape}``.

    Raises :class:`BundleError` naming ``where`` (default: the path) on the first problem.
    """
    path = Path(path)
    label = where or str(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise BundleError(f"{label} is not a safetensors file: {size} bytes, shorter than its header length")
        (n,) = struct.unpack("<Q", head)
        if n > min(MAX_HEADER, size - 8):
            raise BundleError(f"{label} is not a safetensors file: header length {n} exceeds the file")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{label}: the safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise BundleError(f"{label}: the safetensors header is not a JSON object")
    buffer = size - 8 - n
    spans = []
    tensors: dict[str, dict] = {}
    for name, info in header.items():
        if name == "__metadata__":
            if not (isinstance(info, dict) and all(isinstance(v, str) for v in info.values())):
                raise BundleError(f"{label}: safetensors __metadata__ must map strings to strings")
            continue
        problem = _tensor_problem(info)
        if problem:
            raise BundleError(f"{label}: tensor {name!r}: {problem}")
        begin, end = info["data_offsets"]
        expected = math.prod(info["shape"]) * DTYPE_SIZES[info["dtype"]]
        if end - begin != expected:
            raise BundleError(
                f"{label}: tensor {name!r} ({info['dtype']} {info['shape']}) needs {expected} bytes, "
                f"its offsets give {end - begin}"
            )
        spans.append((begin, end, name))
        tensors[name] = {"dtype": info["dtype"], "shape": list(info["shape"])}
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise BundleError(f"{label}: tensor {name!r} starts at byte {begin}, expected {position} (hole or overlap)")
        position = end
    if position != buffer:
        raise BundleError(f"{label}: the tensors cover {position} bytes of a {buffer}-byte buffer")
    return tensors


def _tensor_problem(info: object) -> str | None:
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        return "expected exactly dtype, shape and data_offsets"
    if info["dtype"] not in DTYPE_SIZES:
        return f"unknown dtype {info['dtype']!r}"
    shape, offsets = info["shape"], info["data_offsets"]
    if not (isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape)):
        return f"shape {shape!r} is not a list of non-negative integers"
    if not (
        isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        return f"data_offsets {offsets!r} is not [begin, end] with 0 <= begin <= end"
    return None
