"""``vlakit serve`` against the clients robot code already uses, when they are installed:
openpi's ``openpi-client`` (``WebsocketClientPolicy``) and OpenVLA's ``json-numpy``.

Neither is a vlakit dependency (openpi-client pins numpy < 2), so these tests skip where they
are missing; ``tests/test_serve.py`` checks the same protocols with clients written from their
descriptions.
"""

from __future__ import annotations

import urllib.request

import numpy as np
import pytest

from vlakit.policy.policy import Policy
from vlakit.serve.server import PolicyServer, ServerThread
from vlakit.serve.spec import PolicySpec
from vlakit.types import Observation

pytest.importorskip("vlakit_tabletop")


@pytest.fixture(scope="module")
def served(serve_bundles):
    bundle = serve_bundles["plain"]
    policy = Policy.load(bundle)
    server = PolicyServer(policy, PolicySpec.from_bundle(bundle, policy), port=0, api_key="k3y")
    with ServerThread(server) as s:
        yield s, policy


def test_openpi_client_websocket_client_policy(served) -> None:
    websocket_client_policy = pytest.importorskip("openpi_client.websocket_client_policy")
    server, policy = served
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    client = websocket_client_policy.WebsocketClientPolicy(host="127.0.0.1", port=server.port, api_key="k3y")
    assert client.get_server_metadata()["image_keys"] == ["observation/top"]
    reply = client.infer({"observation/top": image, "prompt": "pick up the red star"})
    expected = policy.act(Observation(images={"top": image}), "pick up the red star")
    np.testing.assert_array_equal(reply["actions"][0], expected)
    with pytest.raises(RuntimeError, match="missing camera image 'observation/top'"):
        client.infer({"prompt": "pick up the red star"})
    assert client.infer({"observation/top": image, "prompt": "go"})["actions"].shape == (1, 4)


def test_json_numpy_post_act(served) -> None:
    json_numpy = pytest.importorskip("json_numpy")
    server, policy = served
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    body = json_numpy.dumps({"image": image, "instruction": "pick up the red star"}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/act", data=body, headers={"Authorization": "Api-Key k3y"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        action = json_numpy.loads(response.read())
    np.testing.assert_array_equal(
        action, policy.act(Observation(images={"top": image}), "pick up the red star")
    )
