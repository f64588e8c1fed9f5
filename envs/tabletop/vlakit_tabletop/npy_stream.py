"""``.npy`` records written to and read from a stream without copies or pickle: the demonstration
cache writes an array from its parts (:func:`write_npy`), and generation workers send their
blocks through a pipe (:func:`write_npy`, :func:`read_npy`)."""

from __future__ import annotations

from typing import Any

import numpy as np

#: an array, or the parts of one (joined along the first axis)
Parts = np.ndarray | list[np.ndarray]


def write_npy(f: Any, value: Parts) -> None:
    """Write an array, or its parts as one array (joined along the first axis, without joining
    them in memory), to the file object ``f`` in the ``.npy`` format; object arrays (pickle) are
    refused."""
    parts = value if isinstance(value, list) else [np.asanyarray(value)]
    first = parts[0]
    shape = (sum(len(part) for part in parts), *first.shape[1:]) if isinstance(value, list) else first.shape
    if first.dtype.hasobject:
        raise ValueError("object arrays are not written (they would need pickle)")
    for part in parts:
        if part.dtype != first.dtype or part.shape[1:] != first.shape[1:]:
            raise ValueError(f"parts of one array differ: {part.dtype}{part.shape} after {first.dtype}{first.shape}")
    header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(f, header)
    for part in parts:
        if part.size:
            f.write(memoryview(np.ascontiguousarray(part)).cast("B"))


def read_npy(stream: Any) -> np.ndarray | None:
    """The next ``.npy`` record of ``stream`` (a buffered reader, a pipe too) read into a new array;
    ``None`` where the stream ends before one; :class:`EOFError` for a cut or refused record."""
    if not stream.peek(1):
        return None
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(stream)
    except ValueError as exc:
        raise EOFError(f"not a .npy record: {exc}") from None
    if dtype.hasobject or fortran_order:
        raise EOFError("a .npy record this reader refuses (object dtype or Fortran order)")
    array = np.empty(shape, dtype=dtype)
    if array.size and stream.readinto(memoryview(array).cast("B")) != array.nbytes:
        raise EOFError("the stream ended in the middle of a .npy record")
    return array
