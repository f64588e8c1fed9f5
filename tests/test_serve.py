"""``vlakit serve`` on real sockets (127.0.0.1): the openpi websocket protocol with vlakit's client
and with a client written from the protocol description (``websockets`` + ``msgpack`` only),
OpenVLA's ``POST /act`` with json-numpy, refusals of bad requests while others keep being
served, the API key, and batching. The policy is a tiny untrained bundle."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request

import msgpack
import numpy as np
import pytest
from conftest_bundles import TINY_RECIPE, export_tiny_bundle
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from vlakit.errors import VlakitError
from vlakit.policy.policy import Policy
from vlakit.serve.client import RemotePolicy
from vlakit.serve.errors import PolicyServerError, PolicyServerLost
from vlakit.serve.server import PolicyServer, ServerThread, exposure_warning, is_loopback
from vlakit.serve.spec import PolicySpec
from vlakit.types import Observation

pytest.importorskip("vlakit_tabletop")

TIMEOUT = 30.0  # seconds any one socket operation may take


# -- a client written from the protocol description, as openpi-client does it ----------------------
def _pack_numpy(obj):
    if isinstance(obj, np.ndarray):
        return {b"__ndarray__": True, b"data": obj.tobytes(), b"dtype": obj.dtype.str, b"shape": obj.shape}
    if isinstance(obj, np.generic):
        return {b"__npgeneric__": True, b"data": obj.item(), b"dtype": obj.dtype.str}
    raise TypeError(type(obj))


def _unpack_numpy(obj):
    if b"__ndarray__" in obj:
        return np.ndarray(buffer=obj[b"data"], dtype=np.dtype(obj[b"dtype"]), shape=obj[b"shape"])
    if b"__npgeneric__" in obj:
        return np.dtype(obj[b"dtype"]).type(obj[b"data"])
    return obj


def pack(obj) -> bytes:
    return msgpack.packb(obj, default=_pack_numpy, use_bin_type=True)


def unpack(data: bytes):
    return msgpack.unpackb(data, object_hook=_unpack_numpy)


def raw_client(url: str, **kwargs):
    return connect(url, open_timeout=TIMEOUT, compression=None, max_size=None, **kwargs)


def json_numpy(obj) -> str:
    """json-numpy's encoding, from its description: base64 bytes, dtype string, shape."""

    def default(o):
        a = np.asarray(o)
        return {
            "__numpy__": base64.b64encode(a.tobytes()).decode(),
            "dtype": a.dtype.str,
            "shape": list(a.shape),
        }

    return json.dumps(obj, default=default)


def from_json_numpy(text: str):
    def hook(d):
        if "__numpy__" in d:
            a = np.frombuffer(base64.b64decode(d["__numpy__"]), np.dtype(d["dtype"]))
            return a.reshape(d["shape"]) if d["shape"] else a[0]
        return d

    return json.loads(text, object_hook=hook)


def http(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers=headers or {}, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def image(seed: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def policy(serve_bundles) -> Policy:
    return Policy.load(serve_bundles["plain"])


@pytest.fixture(scope="module")
def server(serve_bundles, policy):
    spec = PolicySpec.from_bundle(serve_bundles["plain"], policy)
    with ServerThread(
        PolicyServer(policy, spec, port=0, max_batch_size=8, max_wait=0.005, max_request_bytes=2**20)
    ) as s:
        yield s


@pytest.fixture(scope="module")
def chunk_server(serve_bundles):
    policy = Policy.load(serve_bundles["chunks"])
    with ServerThread(
        PolicyServer(policy, PolicySpec.from_bundle(serve_bundles["chunks"], policy), port=0)
    ) as s:
        yield s, policy


# -- round trips -----------------------------------------------------------------------------------
def test_vlakit_client_gets_what_policy_act_gives(server, policy) -> None:
    obs = Observation(images={"top": image(1)})
    expected = policy.act(obs, "pick up the red star")
    with RemotePolicy(server.url, timeout=TIMEOUT) as remote:
        assert (
            remote.cameras == ("top",) and remote.horizon == 1 and remote.action_space == policy.action_space
        )
        got = remote.act(obs, "pick up the red star")
        assert got.dtype == np.float32 and got.shape == (1, 4)
        np.testing.assert_array_equal(got[0], expected)
        assert remote.last_timing["batch_size"] == 1 and remote.last_timing["infer_ms"] > 0


def test_openpi_style_client_from_the_protocol_description(server, policy) -> None:
    img = image(2)
    with raw_client(server.url) as ws:
        meta = unpack(ws.recv(timeout=TIMEOUT))
        assert meta["cameras"] == ["top"] and meta["action_shape"] == [1, 4] and meta["protocol"]
        assert meta["vlakit_version"] and meta["codec"] == "uniform-bins" and meta["state_dim"] == 0
        for prompt in ("place the green circle on the 3", "pick up the red star"):
            ws.send(pack({"prompt": prompt, "observation/top": img, "observation/state": np.zeros(3)}))
            reply = unpack(ws.recv(timeout=TIMEOUT))
            assert reply["actions"].dtype == np.float32 and reply["actions"].shape == (1, 4)
            np.testing.assert_array_equal(
                reply["actions"][0], policy.act(Observation(images={"top": img}), prompt)
            )
            assert set(reply["server_timing"]) >= {"infer_ms", "batch_size"}
        ws.send(pack({"__ctrl__": "episode_start", "__task__": "x"}))  # openpi-client's episode markers
        assert unpack(ws.recv(timeout=TIMEOUT)) == {"__ack__": "episode_start"}


def test_http_act_with_json_numpy(server, policy) -> None:
    img = image(3)
    expected = policy.act(Observation(images={"top": img}), "pick up the red star")
    status, body = http(
        f"{server.url.replace('ws', 'http')}/act",
        json_numpy({"image": img, "instruction": "pick up the red star"}).encode(),
    )
    assert status == 200
    action = from_json_numpy(body.decode())
    assert action.dtype == np.float32 and action.shape == (4,)
    np.testing.assert_array_equal(action, expected)
    # OpenVLA's variant for clients without json-numpy: the request and the reply double-encoded
    inner = json_numpy({"image": img, "instruction": "pick up the red star", "unnorm_key": "bridge"})
    status, body = http(f"{server.url.replace('ws', 'http')}/act", json.dumps({"encoded": inner}).encode())
    assert status == 200
    np.testing.assert_array_equal(from_json_numpy(json.loads(body)), expected)


def test_health_and_metadata_routes(server) -> None:
    base = server.url.replace("ws", "http")
    assert http(f"{base}/healthz") == (200, b"OK\n")
    status, body = http(f"{base}/metadata")
    assert status == 200 and json.loads(body)["image_keys"] == ["observation/top"]
    status, body = http(f"{base}/")  # the websocket route answered over plain HTTP
    assert status == 400 and b"websocket" in body


def test_chunked_policy_with_state(chunk_server) -> None:
    server, policy = chunk_server
    obs = Observation(images={"top": image(4)}, state=np.array([0.5, 0.5, 0.0], np.float32))
    expected = policy.act(obs, "pick up the red star")
    with RemotePolicy(server.url, timeout=TIMEOUT) as remote:
        assert remote.horizon == 4 and remote.state_dim == 3
        np.testing.assert_array_equal(remote.act(obs, "pick up the red star"), expected)
    status, body = http(
        f"{server.url.replace('ws', 'http')}/act",
        json_numpy(
            {"image": obs.images["top"], "instruction": "pick up the red star", "state": obs.state}
        ).encode(),
    )
    assert status == 200 and from_json_numpy(body.decode()).shape == (4, 4)


# -- bad requests ----------------------------------------------------------------------------------
GOOD = {"prompt": "pick up the red star", "observation/top": image(5)}
BAD_MESSAGES = [
    ("missing camera", pack({"prompt": "go"}), "missing camera image 'observation/top'"),
    (
        "wrong shape",
        pack({**GOOD, "observation/top": np.zeros((64, 64), np.uint8)}),
        "must have shape [H, W, 3]",
    ),
    ("wrong dtype", pack({**GOOD, "observation/top": np.zeros((64, 64, 3), np.float64)}), "must be uint8"),
    ("no prompt", pack({"observation/top": image(5)}), "missing 'prompt'"),
    ("garbage bytes", b"\xc1\xff\x00garbage", "not a valid msgpack message"),
    ("not a map", pack([1, 2, 3]), "a request is a msgpack map"),
    (
        "object dtype",
        msgpack.packb(
            {
                **GOOD,
                "observation/top": {b"__ndarray__": True, b"data": b"x" * 8, b"dtype": "|O", b"shape": [1]},
            }
        ),
        "not accepted",
    ),
    ("text frame", "hello", "binary msgpack"),
]


@pytest.mark.parametrize("what, message, needle", BAD_MESSAGES, ids=[b[0] for b in BAD_MESSAGES])
def test_bad_requests_are_answered_while_others_keep_being_served(
    server, policy, what, message, needle
) -> None:
    obs = Observation(images={"top": image(6)})
    with RemotePolicy(server.url, timeout=TIMEOUT) as bystander, raw_client(server.url) as ws:
        unpack(ws.recv(timeout=TIMEOUT))
        ws.send(message)
        reply = ws.recv(timeout=TIMEOUT)
        assert isinstance(reply, str) and reply.startswith("error: ") and needle in reply
        np.testing.assert_array_equal(bystander.act(obs, "go")[0], policy.act(obs, "go"))
        ws.send(pack(GOOD))  # the refused client's connection still works
        assert unpack(ws.recv(timeout=TIMEOUT))["actions"].shape == (1, 4)


def test_nan_state_is_refused(chunk_server) -> None:
    server, _ = chunk_server
    with raw_client(server.url) as ws:
        unpack(ws.recv(timeout=TIMEOUT))
        ws.send(pack({**GOOD, "observation/state": np.array([0.0, np.nan, 1.0])}))
        reply = ws.recv(timeout=TIMEOUT)
        assert isinstance(reply, str) and "'observation/state' holds NaN" in reply
        ws.send(pack({**GOOD, "observation/state": np.zeros(5)}))
        assert "must have shape [3], got [5]" in ws.recv(timeout=TIMEOUT)


def test_oversized_message_closes_only_that_connection(server, policy) -> None:
    obs = Observation(images={"top": image(7)})
    with RemotePolicy(server.url, timeout=TIMEOUT) as bystander, raw_client(server.url) as ws:
        unpack(ws.recv(timeout=TIMEOUT))
        # the server closes with 1009 (message too big); on loopback the reset of the unread rest
        # of the message can reach the client before that close frame, even while it still sends
        with pytest.raises((ConnectionClosed, ConnectionResetError)) as closed:
            ws.send(pack({**GOOD, "observation/top": np.zeros((1024, 1024, 3), np.uint8)}))  # 3 MiB > 1 MiB
            ws.recv(timeout=TIMEOUT)
        if isinstance(closed.value, ConnectionClosed) and closed.value.rcvd is not None:
            assert closed.value.rcvd.code == 1009
        np.testing.assert_array_equal(bystander.act(obs, "go")[0], policy.act(obs, "go"))
    status, body = http(f"{server.url.replace('ws', 'http')}/act", b"{" + b" " * 2**21 + b"}")
    assert status == 413 and b"limit" in body


def test_client_that_disconnects_mid_request(server, policy) -> None:
    for _ in range(3):
        ws = raw_client(server.url)
        unpack(ws.recv(timeout=TIMEOUT))
        ws.send(pack(GOOD))
        ws.close()  # before the reply
    obs = Observation(images={"top": image(8)})
    with RemotePolicy(server.url, timeout=TIMEOUT) as remote:
        np.testing.assert_array_equal(remote.act(obs, "go")[0], policy.act(obs, "go"))


@pytest.mark.parametrize(
    "body, needle",
    [
        (b"\x00\xffnot json", "not valid JSON"),
        (json_numpy({"instruction": "go"}).encode(), "missing camera image 'image'"),
        (json_numpy({"image": image(1), "instruction": 3}).encode(), "'instruction' must be text"),
        (
            json_numpy({"image": np.zeros((4, 4, 3), np.float32), "instruction": "go"}).encode(),
            "must be uint8",
        ),
        (json.dumps({"encoded": 5}).encode(), "'encoded' must hold"),
    ],
)
def test_http_bad_requests(server, body: bytes, needle: str) -> None:
    status, reply = http(f"{server.url.replace('ws', 'http')}/act", body)
    assert status == 400 and needle in json.loads(reply)["error"]


# -- batching --------------------------------------------------------------------------------------
def test_concurrent_clients_are_batched_and_get_their_own_actions(server, policy) -> None:
    n, rounds = 6, 3
    images = [image(100 + i) for i in range(n)]
    expected = [policy.act(Observation(images={"top": img}), "pick up the red star") for img in images]
    results: dict[int, list] = {}
    sizes: list[int] = []
    barrier = threading.Barrier(n)

    def client(i: int) -> None:
        with RemotePolicy(server.url, timeout=TIMEOUT) as remote:
            barrier.wait(TIMEOUT)
            out = []
            for _ in range(rounds):
                out.append(remote.act(Observation(images={"top": images[i]}), "pick up the red star")[0])
                sizes.append(int(remote.last_timing["batch_size"]))
            results[i] = out

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(4 * TIMEOUT)
    assert sorted(results) == list(range(n))
    for i in range(n):
        for got in results[i]:
            np.testing.assert_allclose(got, expected[i], atol=1e-5)
    assert max(sizes) > 1  # requests that arrived together went through one act_batch call


# -- access ----------------------------------------------------------------------------------------
def test_api_key_by_header_or_first_message(serve_bundles, policy) -> None:
    spec = PolicySpec.from_bundle(serve_bundles["plain"], policy)
    obs = Observation(images={"top": image(9)})
    with ServerThread(PolicyServer(policy, spec, port=0, api_key="s3cret")) as s:
        with RemotePolicy(s.url, api_key="s3cret", timeout=TIMEOUT) as remote:
            np.testing.assert_array_equal(remote.act(obs, "go")[0], policy.act(obs, "go"))
        with pytest.raises(PolicyServerLost, match="HTTP 401"):
            RemotePolicy(s.url, api_key="wrong", timeout=TIMEOUT)
        with pytest.raises(PolicyServerError, match="needs an API key"):
            RemotePolicy(s.url, timeout=TIMEOUT)
        with raw_client(s.url) as ws:  # a client that cannot set headers
            assert ws.recv(timeout=TIMEOUT).startswith("auth required")
            ws.send(pack({"api_key": "s3cret"}))
            assert unpack(ws.recv(timeout=TIMEOUT))["cameras"] == ["top"]
        with raw_client(s.url) as ws:
            ws.recv(timeout=TIMEOUT)
            ws.send(pack({"api_key": "guess"}))
            assert "wrong API key" in ws.recv(timeout=TIMEOUT)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=TIMEOUT)
        base = s.url.replace("ws", "http")
        body = json_numpy({"image": obs.images["top"], "instruction": "go"}).encode()
        assert http(f"{base}/act", body)[0] == 401
        assert http(f"{base}/metadata")[0] == 401
        assert http(f"{base}/act", body, {"Authorization": "Api-Key s3cret"})[0] == 200
        assert http(f"{base}/healthz") == (200, b"OK\n")


def test_binding_beyond_loopback_warns() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert exposure_warning("127.0.0.1", None) is None
    warning = exposure_warning("0.0.0.0", None)
    assert warning and "no API key" in warning and "0.0.0.0" in warning
    assert "must send the API key" in exposure_warning("10.0.0.5", "k")


def test_bench_serve_prints_its_figures(serve_bundles, capsys) -> None:
    import vlakit.cli.commands.bench  # noqa: F401  (registers `vlakit bench`)
    from vlakit.cli.main import main

    argv = [
        "bench",
        "serve",
        str(serve_bundles["plain"]),
        "--calls",
        "3",
        "--seconds",
        "0.2",
        "--clients",
        "1,2",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "websocket round trip" in out and "added by serving" in out and "2 client(s)" in out
    assert main([*argv[:3], "--clients", "1,x"]) == 2


def test_vlakit_client_says_when_its_request_was_too_large(server) -> None:
    with RemotePolicy(server.url, timeout=TIMEOUT) as remote:
        big = Observation(images={"top": np.zeros((1024, 1024, 3), np.uint8)})  # 3 MiB > the 1 MiB limit
        assert remote.metadata["max_request_bytes"] == 2**20
        with pytest.raises(
            PolicyServerLost, match="code 1009: the request was larger than the server accepts"
        ):
            remote.act(big, "go")


def test_two_cameras_over_both_protocols(tmp_path_factory: pytest.TempPathFactory) -> None:
    bundle = export_tiny_bundle(
        tmp_path_factory.mktemp("two-cams"), TINY_RECIPE, "two", cameras=("top", "wrist")
    )
    policy = Policy.load(bundle)
    obs = Observation(images={"top": image(10), "wrist": image(11, size=32)})
    expected = policy.act(obs, "pick up the red star")
    with ServerThread(PolicyServer(policy, PolicySpec.from_bundle(bundle, policy), port=0)) as s:
        with RemotePolicy(s.url, timeout=TIMEOUT) as remote:
            assert remote.cameras == ("top", "wrist")
            np.testing.assert_array_equal(remote.act(obs, "pick up the red star")[0], expected)
            with pytest.raises(VlakitError, match="needs camera 'wrist'"):
                remote.act(Observation(images={"top": image(10)}), "go")
        body = {
            "image": obs.images["top"],
            "images": {"wrist": obs.images["wrist"]},
            "instruction": "pick up the red star",
        }
        status, reply = http(f"{s.url.replace('ws', 'http')}/act", json_numpy(body).encode())
        assert status == 200
        np.testing.assert_array_equal(from_json_numpy(reply.decode()), expected)
