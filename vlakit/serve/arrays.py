"""Building numpy arrays from bytes received over the wire, after checking dtype, shape and size.

Both wire codecs (openpi's msgpack encoding and json-numpy) carry an array as raw bytes, a dtype
string (numpy's ``dtype.str``, e.g. ``"|u1"``, ``"<f4"``) and a shape. Only numeric and boolean
dtypes are accepted (never object, void/structured or string dtypes), at most
:data:`MAX_DIMS` dimensions, and the byte count must be exactly what dtype and shape need.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlakit.serve.errors import BadRequest

#: Most dimensions an array on the wire may have.
MAX_DIMS = 8
#: dtype kinds accepted on the wire: bool, signed and unsigned integers, floats.
NUMERIC_KINDS = frozenset("biuf")


def wire_dtype(text: Any) -> np.dtype:
    """Parse a dtype string from the wire; :class:`BadRequest` unless it is plain numeric."""
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    if not isinstance(text, str) or len(text) > 16:
        raise BadRequest(f"array dtype must be a short string such as '<f4', got {text!r}")
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError):
        raise BadRequest(f"unknown array dtype {text!r}") from None
    if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise BadRequest(f"array dtype {text!r} is not accepted (only bool, integer and float arrays)")
    return dtype


def wire_shape(value: Any) -> tuple[int, ...]:
    """Parse a shape from the wire: a list of at most :data:`MAX_DIMS` non-negative ints."""
    if not isinstance(value, (list, tuple)) or len(value) > MAX_DIMS:
        raise BadRequest(f"array shape must be a list of at most {MAX_DIMS} integers, got {value!r}")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value):
        raise BadRequest(f"array shape must hold non-negative integers, got {value!r}")
    return tuple(value)


def array_from_wire(data: Any, dtype: Any, shape: Any) -> np.ndarray:
    """A read-only array viewing ``data`` (bytes) as ``dtype`` and ``shape``, all checked first."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise BadRequest(f"array data must be bytes, got {type(data).__name__}")
    dt = wire_dtype(dtype)
    dims = wire_shape(shape)
    expected = int(np.prod(dims, dtype=np.int64)) * dt.itemsize
    if len(data) != expected:
        raise BadRequest(
            f"array of dtype {dt.str} and shape {list(dims)} needs {expected} bytes, got {len(data)}"
        )
    return np.frombuffer(data, dtype=dt).reshape(dims)


def wire_parts(array: np.ndarray) -> tuple[bytes, str, list[int]]:
    """The inverse: ``(bytes, dtype string, shape)`` of a numeric array (C order)."""
    a = np.asarray(array)
    if a.dtype.kind not in NUMERIC_KINDS:
        raise TypeError(f"only numeric arrays are sent, not dtype {a.dtype}")
    return np.ascontiguousarray(a).tobytes(), a.dtype.str, list(a.shape)
