"""openpi's wire format: msgpack, with numpy arrays as maps of bytes keys.

An array ``a`` is the msgpack map ``{b"__ndarray__": True, b"data": a.tobytes(),
b"dtype": a.dtype.str, b"shape": list(a.shape)}`` and a numpy scalar ``s`` is
``{b"__npgeneric__": True, b"data": s.item(), b"dtype": s.dtype.str}`` (the keys are msgpack
*bin*, not *str*), as ``openpi_client.msgpack_numpy`` writes and reads them. Everything else is
plain msgpack. Decoding builds arrays only through :func:`vlakit.serve.arrays.array_from_wire`
(numeric dtypes, exact byte counts); no pickle, no extension types.
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from vlakit.serve.arrays import array_from_wire, wire_dtype, wire_parts
from vlakit.serve.errors import BadRequest

_NDARRAY = b"__ndarray__"
_NPGENERIC = b"__npgeneric__"


def _encode_numpy(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        data, dtype, shape = wire_parts(obj)
        return {_NDARRAY: True, b"data": data, b"dtype": dtype, b"shape": shape}
    if isinstance(obj, np.generic):
        if obj.dtype.kind not in "biuf":
            raise TypeError(f"cannot send a numpy scalar of dtype {obj.dtype}")
        return {_NPGENERIC: True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(f"cannot send an object of type {type(obj).__name__} over msgpack")


def _decode_numpy(obj: dict[Any, Any]) -> Any:
    if _NDARRAY in obj:
        return array_from_wire(obj.get(b"data"), obj.get(b"dtype"), obj.get(b"shape"))
    if _NPGENERIC in obj:
        dtype = wire_dtype(obj.get(b"dtype"))
        value = obj.get(b"data")
        if not isinstance(value, (bool, int, float)):
            raise BadRequest(f"numpy scalar data must be a number, got {type(value).__name__}")
        return dtype.type(value)
    return obj


def _refuse_ext(code: int, data: bytes) -> Any:
    raise BadRequest(f"msgpack extension type {code} is not accepted")


def packb(obj: Any) -> bytes:
    """Encode ``obj`` (maps, lists, strings, numbers, numpy arrays and scalars) as msgpack."""
    return msgpack.packb(obj, default=_encode_numpy, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    """Decode one msgpack message; :class:`BadRequest` for anything malformed.

    msgpack bounds every length by the size of ``data`` and refuses deep nesting, so a hostile
    message costs at most its own size.
    """
    try:
        return msgpack.unpackb(data, object_hook=_decode_numpy, ext_hook=_refuse_ext, raw=False)
    except BadRequest:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise BadRequest(f"not a valid msgpack message ({type(exc).__name__}: {exc})") from None
