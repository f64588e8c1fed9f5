"""vlakit's robot-side client of a policy server (websocket, openpi's msgpack protocol).

``RemotePolicy(url).act(observation, instruction)`` returns the chunk ``float32`` ``[H, D]``
the server computed, so it drops into :func:`vlakit.runtime.run_episode` like a local policy.
A server that refuses a request raises :class:`PolicyServerError`; one that cannot be reached,
closes the connection or does not answer in time raises :class:`PolicyServerLost`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect

from vlakit.errors import VlakitError
from vlakit.serve import msgpack_codec
from vlakit.serve.auth import HEADER, SCHEME
from vlakit.serve.errors import BadRequest, PolicyServerError, PolicyServerLost
from vlakit.types import ActionSpace, Observation


def _closed(exc: ConnectionClosed) -> str:
    return _close_frame(exc.rcvd or exc.sent)


#: What the close codes a policy server uses mean (RFC 6455, section 7.4.1).
CLOSE_CODES = {
    1001: "the server is going away",
    1008: "refused: wrong or missing API key",
    1009: "the request was larger than the server accepts (vlakit serve --max-request-mb)",
    1011: "the server failed",
}


def _close_frame(frame: Any) -> str:
    if frame is None:
        return "the connection dropped"
    code = int(frame.code)
    reason = frame.reason or CLOSE_CODES.get(code, "")
    return f"closed with code {code}{f': {reason}' if reason else ''}"


class RemotePolicy:
    """A policy served by ``vlakit serve`` (or any server speaking its protocol) at ``url``.

    ``url``: ``ws://HOST:PORT`` (or ``wss://``); ``api_key``: sent as
    ``Authorization: Api-Key KEY``; ``timeout``: seconds to connect and to wait for each reply.
    ``metadata`` is what the server sent on connect; ``last_timing`` the server's timing of
    the last reply (milliseconds).
    """

    def __init__(
        self, url: str, api_key: str | None = None, timeout: float = 30.0, max_reply_bytes: int = 64 * 2**20
    ) -> None:
        if not url.startswith(("ws://", "wss://")):
            raise VlakitError(f"--policy takes a websocket address such as ws://HOST:8000, got {url!r}")
        self.url = url
        self.timeout = timeout
        self.last_timing: dict[str, Any] = {}
        headers = {HEADER: f"{SCHEME} {api_key}"} if api_key else None
        try:
            self._ws: ClientConnection = connect(
                url,
                open_timeout=timeout,
                close_timeout=2.0,
                max_size=max_reply_bytes,
                compression=None,
                additional_headers=headers,
            )
        except InvalidURI as exc:
            raise VlakitError(f"not a valid websocket address: {url!r} ({exc})") from None
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = " (missing or wrong API key: --api-key)" if status == 401 else ""
            raise PolicyServerLost(
                f"the policy server at {url} refused the connection: HTTP {status}{hint}"
            ) from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise PolicyServerLost(f"cannot reach the policy server at {url}: {exc}") from None
        try:
            first = self._receive()
        except PolicyServerError as exc:
            self.close()
            if "auth required" in str(exc):
                raise PolicyServerError(f"the policy server at {url} needs an API key (--api-key)") from None
            raise
        self.metadata: dict[str, Any] = first
        try:
            self.action_space = ActionSpace.from_dict(first["action_space"])
            self.cameras: tuple[str, ...] = tuple(first["cameras"])
            self.state_dim = int(first.get("state_dim") or 0)
            self.horizon = int(first.get("horizon") or 1)
        except (KeyError, TypeError, ValueError) as exc:
            self.close()
            raise PolicyServerError(f"{url} sent metadata vlakit does not understand ({exc!r})") from None

    def _receive(self) -> dict[str, Any]:
        try:
            data = self._ws.recv(timeout=self.timeout)
        except ConnectionClosed as exc:
            raise PolicyServerLost(f"the policy server at {self.url} went away ({_closed(exc)})") from None
        except TimeoutError:
            raise PolicyServerLost(
                f"the policy server at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        if isinstance(data, str):
            raise PolicyServerError(f"the policy server at {self.url} refused the request: {data}")
        try:
            message = msgpack_codec.unpackb(data)
        except BadRequest as exc:
            raise PolicyServerError(f"unreadable reply from {self.url}: {exc}") from None
        if not isinstance(message, dict):
            raise PolicyServerError(
                f"unreadable reply from {self.url}: a {type(message).__name__}, not a map"
            )
        return message

    def request(self, observation: Observation, instruction: str) -> dict[str, Any]:
        """The openpi request map of one observation."""
        message: dict[str, Any] = {"prompt": instruction}
        for cam in self.cameras:
            if cam not in observation.images:
                raise VlakitError(
                    f"the served policy needs camera {cam!r}; the observation has {sorted(observation.images)}"
                )
            message[f"observation/{cam}"] = np.ascontiguousarray(observation.images[cam], dtype=np.uint8)
        if self.state_dim and observation.state is not None:
            message["observation/state"] = np.asarray(observation.state, dtype=np.float32)
        return message

    def act(self, observation: Observation, instruction: str) -> np.ndarray:
        """The server's action chunk ``float32`` ``[H, D]`` for one observation."""
        data = msgpack_codec.packb(self.request(observation, instruction))
        limit = self.metadata.get("max_request_bytes")
        if isinstance(limit, int) and len(data) > limit:
            # refused here: a server closes an oversized message's connection with code 1009, and on
            # a fast link the reset can arrive before that close frame
            raise PolicyServerLost(
                f"the policy server at {self.url} closed with code 1009: the request was larger than the "
                f"server accepts ({len(data)} bytes, limit {limit}; vlakit serve --max-request-mb)"
            )
        try:
            self._ws.send(data)
        except ConnectionClosed as exc:
            raise PolicyServerLost(f"the policy server at {self.url} went away ({_closed(exc)})") from None
        reply = self._receive()
        actions = reply.get("actions")
        if (
            not isinstance(actions, np.ndarray)
            or actions.ndim != 2
            or actions.shape[1] != self.action_space.dim
        ):
            got = list(actions.shape) if isinstance(actions, np.ndarray) else type(actions).__name__
            raise PolicyServerError(
                f"{self.url} answered 'actions' of shape {got}, not [H, {self.action_space.dim}]"
            )
        timing = reply.get("server_timing")
        self.last_timing = timing if isinstance(timing, dict) else {}
        return actions.astype(np.float32)

    def check_connection(self) -> None:
        """Raise :class:`PolicyServerLost` if the server has closed the connection (cheap: no
        network traffic; the control loop calls it every tick)."""
        protocol = self._ws.protocol
        if protocol.state is not State.OPEN:
            reason = _close_frame(protocol.close_rcvd or protocol.close_sent)
            raise PolicyServerLost(f"the policy server at {self.url} went away ({reason})")

    def close(self) -> None:
        self._ws.close()

    def __enter__(self) -> RemotePolicy:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
