"""The wire formats of ``vlakit serve``: openpi's msgpack-numpy, json-numpy, request checks.

The openpi side is checked against messages built from the protocol description with plain
``msgpack`` (bytes keys ``__ndarray__``, ``data``, ``dtype``, ``shape``), as
``openpi_client.msgpack_numpy`` builds them.
"""

from __future__ import annotations

import base64
import json

import msgpack
import numpy as np
import pytest

from vlakit.serve import json_codec, msgpack_codec
from vlakit.serve.errors import BadRequest
from vlakit.serve.inputs import parse_openpi, parse_openvla
from vlakit.serve.spec import PolicySpec
from vlakit.types import ActionSpace

SPACE = ActionSpace(names=("x", "y"), units=("m", "m"), low=(-1.0, -1.0), high=(1.0, 1.0))
SPEC = PolicySpec(action_space=SPACE, cameras=("top", "wrist"), state_dim=3, horizon=2, codec="uniform-bins")


def openpi_array(a: np.ndarray) -> dict:
    """An array as openpi-client writes it (from the protocol description)."""
    return {b"__ndarray__": True, b"data": a.tobytes(), b"dtype": a.dtype.str, b"shape": a.shape}


ARRAYS = [
    np.arange(12, dtype=np.uint8).reshape(2, 2, 3),
    np.array([1.5, -2.0, np.nan], dtype=np.float32),
    np.array([[1, 2], [3, 4]], dtype=np.int64),
    np.array([True, False]),
    np.array(3.25, dtype=np.float64),
    np.zeros((0, 4), dtype=np.float32),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"{a.dtype}{list(a.shape)}")
def test_msgpack_arrays_round_trip_in_openpis_layout(array: np.ndarray) -> None:
    packed = msgpack_codec.packb({"a": array})
    raw = msgpack.unpackb(packed, raw=False)["a"]  # no hooks: the bytes on the wire as a map
    assert (
        raw[b"__ndarray__"] is True
        and raw[b"dtype"] == array.dtype.str
        and raw[b"shape"] == list(array.shape)
    )
    assert raw[b"data"] == array.tobytes()
    out = msgpack_codec.unpackb(packed)["a"]
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def test_msgpack_reads_what_openpi_client_writes() -> None:
    image = np.random.default_rng(0).integers(0, 256, (8, 6, 3), dtype=np.uint8)
    message = {
        "prompt": "pick",
        "observation/top": openpi_array(image),
        "observation/state": openpi_array(np.array([0.1, 0.2, 0.3], dtype=np.float64)),
        "step": {b"__npgeneric__": True, b"data": 7, b"dtype": np.dtype(np.int32).str},
    }
    out = msgpack_codec.unpackb(msgpack.packb(message, use_bin_type=True))
    np.testing.assert_array_equal(out["observation/top"], image)
    assert out["observation/state"].dtype == np.float64
    assert out["step"] == 7 and isinstance(out["step"], np.int32)


@pytest.mark.parametrize(
    "array, needle",
    [
        ({b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "|O", b"shape": [1]}, "not accepted"),
        ({b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "[('a', '<f4')]", b"shape": [2]}, "dtype"),
        ({b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "<U2", b"shape": [1]}, "not accepted"),
        ({b"__ndarray__": True, b"data": b"\0" * 7, b"dtype": "<f4", b"shape": [2]}, "needs 8 bytes, got 7"),
        ({b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "<f4", b"shape": [-2, -1]}, "non-negative"),
        ({b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "<f4", b"shape": [1] * 9}, "at most 8"),
        ({b"__ndarray__": True, b"data": "text", b"dtype": "<f4", b"shape": [1]}, "must be bytes"),
        (
            {b"__ndarray__": True, b"data": b"\0" * 4, b"dtype": "nonsense", b"shape": [1]},
            "unknown array dtype",
        ),
    ],
)
def test_msgpack_refuses_bad_arrays(array: dict, needle: str) -> None:
    with pytest.raises(BadRequest, match=needle.replace("(", r"\(").replace("[", r"\[")):
        msgpack_codec.unpackb(msgpack.packb({"a": array}, use_bin_type=True))


@pytest.mark.parametrize("data", [b"\xc1garbage", b"", b"\x92\x01", msgpack.packb(msgpack.ExtType(5, b"xx"))])
def test_msgpack_refuses_garbage_and_extension_types(data: bytes) -> None:
    with pytest.raises(BadRequest):
        msgpack_codec.unpackb(data)


def test_msgpack_refuses_a_huge_declared_length_without_allocating() -> None:
    # a map header that claims 2**32-1 entries in a 5-byte message
    with pytest.raises(BadRequest):
        msgpack_codec.unpackb(b"\xdf\xff\xff\xff\xff")


def test_json_numpy_layout_and_round_trip() -> None:
    image = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    text = json_codec.dumps({"image": image, "x": np.float32(0.5)})
    raw = json.loads(text)
    assert raw["image"] == {
        "__numpy__": base64.b64encode(image.tobytes()).decode(),
        "dtype": "|u1",
        "shape": [2, 4, 3],
    }
    assert raw["x"]["shape"] == [] and raw["x"]["dtype"] == "<f4"
    out = json_codec.loads(text)
    np.testing.assert_array_equal(out["image"], image)
    assert out["x"] == np.float32(0.5) and out["x"].dtype == np.float32


@pytest.mark.parametrize(
    "body, needle",
    [
        ('{"image": {"__numpy__": "!!", "dtype": "|u1", "shape": [1]}}', "base64"),
        ('{"image": {"__numpy__": "AAAA", "dtype": "|O", "shape": [3]}}', "not accepted"),
        ('{"image": {"__numpy__": "AAAA", "dtype": "|u1", "shape": [4]}}', "needs 4 bytes, got 3"),
        ("{not json", "not valid JSON"),
        ("[" * 100000 + "]" * 100000, "not valid JSON"),
    ],
)
def test_json_numpy_refuses_bad_input(body: str, needle: str) -> None:
    with pytest.raises(BadRequest, match=needle):
        json_codec.loads(body)


def _openpi_request(**changes) -> dict:
    request = {
        "prompt": "pick up the cube",
        "observation/top": np.zeros((8, 8, 3), np.uint8),
        "observation/wrist": np.zeros((4, 6, 3), np.uint8),
        "observation/state": np.array([0.0, 1.0, 2.0]),
        "extra": "ignored",
    }
    for key, value in changes.items():
        key = key.replace("__", "/")
        if value is None:
            request.pop(key)
        else:
            request[key] = value
    return request


def test_openpi_request_becomes_an_observation() -> None:
    chw = np.zeros((3, 5, 7), np.uint8)
    obs, text = parse_openpi(_openpi_request(observation__wrist=chw), SPEC)
    assert text == "pick up the cube"
    assert obs.images["top"].shape == (8, 8, 3) and obs.images["wrist"].shape == (5, 7, 3)
    assert obs.state.dtype == np.float32 and obs.state.tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    "changes, needle",
    [
        ({"observation__wrist": None}, "missing camera image 'observation/wrist'"),
        ({"observation__top": np.zeros((8, 8), np.uint8)}, "'observation/top' must have shape [H, W, 3]"),
        ({"observation__top": np.zeros((8, 8, 3), np.float32)}, "must be uint8"),
        ({"observation__top": "pixels"}, "must be a uint8 image array"),
        ({"observation__top": np.zeros((0, 8, 3), np.uint8)}, "each side must be"),
        ({"observation__state": np.array([0.0, np.nan, 1.0])}, "NaN or infinity"),
        ({"observation__state": np.zeros(4)}, "must have shape [3], got [4]"),
        ({"observation__state": None}, "missing 'observation/state'"),
        ({"prompt": None}, "missing 'prompt'"),
        ({"prompt": 5}, "'prompt' must be text"),
    ],
)
def test_openpi_request_refusals_say_what_is_wrong(changes: dict, needle: str) -> None:
    with pytest.raises(BadRequest) as err:
        parse_openpi(_openpi_request(**changes), SPEC)
    assert needle in str(err.value)


def test_openvla_request_and_its_refusals() -> None:
    body = {"image": np.zeros((8, 8, 3), np.uint8), "instruction": "go", "state": [1, 2, 3]}
    with pytest.raises(BadRequest, match="missing camera image 'images.wrist'"):
        parse_openvla(body, SPEC)
    body["images"] = {"wrist": np.zeros((2, 2, 3), np.uint8)}
    obs, text = parse_openvla(body, SPEC)
    assert text == "go" and set(obs.images) == {"top", "wrist"}
    with pytest.raises(BadRequest, match="missing 'instruction'"):
        parse_openvla({**body, "instruction": None}, SPEC)
    with pytest.raises(BadRequest, match="JSON object"):
        parse_openvla([1, 2], SPEC)


def test_metadata_describes_the_protocol() -> None:
    meta = SPEC.metadata()
    assert meta["action_shape"] == [2, 2] and meta["cameras"] == ["top", "wrist"]
    assert meta["image_keys"] == ["observation/top", "observation/wrist"]
    assert meta["state_key"] == "observation/state" and meta["state_dim"] == 3
    assert ActionSpace.from_dict(meta["action_space"]) == SPACE
    msgpack_codec.packb(meta)  # plain types only
    json.dumps(meta)
