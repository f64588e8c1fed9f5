"""The json-numpy wire format OpenVLA's ``deploy.py`` speaks (``json_numpy.patch()``).

An array or numpy scalar ``a`` is the JSON object ``{"__numpy__": base64(a's bytes),
"dtype": a.dtype.str, "shape": [...]}``; an empty shape is a scalar. Decoding builds arrays only
through :func:`vlakit.serve.arrays.array_from_wire` (numeric dtypes, exact byte counts).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np

from vlakit.serve.arrays import array_from_wire, wire_parts
from vlakit.serve.errors import BadRequest

_KEY = "__numpy__"


def _encode_numpy(obj: Any) -> Any:
    if isinstance(obj, (np.ndarray, np.generic)):
        data, dtype, shape = wire_parts(np.asarray(obj))
        return {_KEY: base64.b64encode(data).decode("ascii"), "dtype": dtype, "shape": shape}
    raise TypeError(f"cannot send an object of type {type(obj).__name__} as JSON")


def _decode_numpy(obj: dict[str, Any]) -> Any:
    if _KEY not in obj:
        return obj
    text = obj[_KEY]
    if not isinstance(text, str):
        raise BadRequest("'__numpy__' must hold base64 text")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("'__numpy__' is not valid base64") from None
    array = array_from_wire(data, obj.get("dtype"), obj.get("shape"))
    return array[()] if array.ndim == 0 else array


def dumps(obj: Any) -> str:
    """JSON text of ``obj``, numpy arrays and scalars encoded as json-numpy does."""
    return json.dumps(obj, default=_encode_numpy)


def loads(text: str | bytes) -> Any:
    """Parse JSON text, turning json-numpy objects into arrays; :class:`BadRequest` if malformed."""
    try:
        return json.loads(text, object_hook=_decode_numpy)
    except BadRequest:
        raise
    except (ValueError, TypeError, RecursionError) as exc:
        raise BadRequest(f"not valid JSON ({exc})") from None
