"""Turning a decoded request into an :class:`Observation` and an instruction, or a clear refusal.

Two request shapes are understood:

* openpi (websocket, msgpack): ``{"prompt": str, "observation/state": float [S],
  "observation/<camera>": uint8 [H, W, 3] (or [3, H, W]) for every camera}``; other keys are
  ignored, as openpi's own policies ignore them.
* OpenVLA (``POST /act``, json-numpy): ``{"image": uint8 [H, W, 3], "instruction": str,
  "state": float [S]}``; ``image`` is the first camera, ``images: {camera: array}`` names any.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from vlakit.serve.errors import BadRequest
from vlakit.serve.spec import PolicySpec
from vlakit.types import Observation

#: Largest image side accepted, pixels.
MAX_IMAGE_SIDE = 4096
#: Longest instruction accepted, characters.
MAX_INSTRUCTION = 4096


def check_image(value: Any, where: str) -> np.ndarray:
    """``uint8`` ``[H, W, 3]`` (``[3, H, W]`` is transposed); :class:`BadRequest` naming ``where``."""
    if not isinstance(value, np.ndarray):
        raise BadRequest(f"{where} must be a uint8 image array [H, W, 3], got {type(value).__name__}")
    if value.ndim == 3 and value.shape[0] == 3 and value.shape[-1] != 3:
        value = value.transpose(1, 2, 0)
    if value.ndim != 3 or value.shape[-1] != 3:
        raise BadRequest(f"{where} must have shape [H, W, 3], got {list(value.shape)}")
    if value.dtype != np.uint8:
        raise BadRequest(f"{where} must be uint8 (0..255), got {value.dtype}")
    h, w = value.shape[:2]
    if not (0 < h <= MAX_IMAGE_SIDE and 0 < w <= MAX_IMAGE_SIDE):
        raise BadRequest(f"{where} is {h}x{w}; each side must be 1..{MAX_IMAGE_SIDE} pixels")
    return value


def check_state(value: Any, spec: PolicySpec, where: str) -> np.ndarray | None:
    """The state ``float32`` ``[S]``, finite; ``None`` when the policy takes no state."""
    if spec.state_dim == 0:
        return None
    if value is None:
        raise BadRequest(f"missing {where}: this policy needs a state of {spec.state_dim} numbers")
    if not isinstance(value, np.ndarray) and not isinstance(value, (list, tuple)):
        raise BadRequest(f"{where} must be an array of {spec.state_dim} numbers, got {type(value).__name__}")
    try:
        state = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise BadRequest(f"{where} must hold numbers") from None
    if state.shape != (spec.state_dim,):
        raise BadRequest(f"{where} must have shape [{spec.state_dim}], got {list(state.shape)}")
    if not np.isfinite(state).all():
        raise BadRequest(f"{where} holds NaN or infinity: {state.tolist()}")
    return state


def check_instruction(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(
            f"missing {where}: the instruction text" if value is None else f"{where} must be text"
        )
    if len(value) > MAX_INSTRUCTION:
        raise BadRequest(f"{where} is {len(value)} characters; at most {MAX_INSTRUCTION}")
    return value


def parse_openpi(message: Any, spec: PolicySpec) -> tuple[Observation, str]:
    """An openpi-style request map -> observation and instruction."""
    if not isinstance(message, Mapping):
        raise BadRequest(f"a request is a msgpack map, got {type(message).__name__}")
    images = {}
    for cam in spec.cameras:
        key = f"observation/{cam}"
        if key not in message:
            raise BadRequest(f"missing camera image {key!r} (this policy needs {spec.image_keys})")
        images[cam] = check_image(message[key], repr(key))
    state = check_state(message.get("observation/state"), spec, "'observation/state'")
    return Observation(images=images, state=state), check_instruction(message.get("prompt"), "'prompt'")


def parse_openvla(payload: Any, spec: PolicySpec) -> tuple[Observation, str]:
    """An OpenVLA-style ``/act`` body -> observation and instruction."""
    if not isinstance(payload, Mapping):
        raise BadRequest(f"the /act body is a JSON object, got {type(payload).__name__}")
    named = payload.get("images", {})
    if not isinstance(named, Mapping):
        raise BadRequest("'images' must map camera names to images")
    images = {}
    for i, cam in enumerate(spec.cameras):
        if cam in named:
            images[cam] = check_image(named[cam], f"'images.{cam}'")
        elif i == 0 and "image" in payload:
            images[cam] = check_image(payload["image"], "'image'")
        else:
            hint = "'image'" if i == 0 else f"'images.{cam}'"
            raise BadRequest(
                f"missing camera image {hint} for camera {cam!r} (cameras: {list(spec.cameras)})"
            )
    state = check_state(payload.get("state"), spec, "'state'")
    return Observation(images=images, state=state), check_instruction(
        payload.get("instruction"), "'instruction'"
    )
