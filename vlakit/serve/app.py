"""The server's routes on one port: the openpi websocket at ``/``, ``POST /act`` (OpenVLA),
``GET /metadata`` and ``GET /healthz``.

Websocket protocol (openpi's): on connect the server sends the metadata (msgpack map, see
:meth:`PolicySpec.metadata`); then each binary msgpack request gets one binary msgpack reply
``{"actions": float32 [H, D], "server_timing": {...}}`` or, when the request is refused, one
*text* frame ``"error: ..."`` (what openpi-client raises as an error); the connection stays open.
A message over the size limit closes the connection with code 1009 (message too big).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from vlakit.serve import json_codec, msgpack_codec
from vlakit.serve.auth import header_key, key_matches
from vlakit.serve.batcher import DynamicBatcher
from vlakit.serve.errors import BadRequest
from vlakit.serve.inputs import parse_openpi, parse_openvla
from vlakit.serve.spec import PolicySpec

log = logging.getLogger(__name__)

#: Seconds a client that must authenticate by message has to send it.
AUTH_TIMEOUT = 10.0


class PolicyApp:
    """The aiohttp application serving one policy through ``batcher``.

    ``max_request_bytes`` bounds every websocket message and HTTP body; ``api_key`` (optional)
    is required from every client except ``GET /healthz``.
    """

    def __init__(
        self,
        batcher: DynamicBatcher,
        spec: PolicySpec,
        max_request_bytes: int = 16 * 2**20,
        api_key: str | None = None,
    ) -> None:
        self.batcher = batcher
        self.spec = spec
        self.max_request_bytes = max_request_bytes
        self.api_key = api_key or None
        self.metadata = spec.metadata(
            max_batch_size=batcher.max_batch_size,
            auth=self.api_key is not None,
            max_request_bytes=self.max_request_bytes,
        )
        self._sockets: set[web.WebSocketResponse] = set()

    def build(self) -> web.Application:
        app = web.Application(client_max_size=self.max_request_bytes)
        app.router.add_get("/", self._websocket)
        app.router.add_post("/act", self._act)
        app.router.add_get("/metadata", self._metadata)
        app.router.add_get("/healthz", self._healthz)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        await self.batcher.start()

    async def _on_shutdown(self, app: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
        await self.batcher.close()

    # -- HTTP ----------------------------------------------------------------------------------
    def _refusal(self, request: web.Request) -> web.Response | None:
        if key_matches(self.api_key, header_key(request.headers)):
            return None
        return web.json_response(
            {"error": "missing or wrong API key (send the header 'Authorization: Api-Key KEY')"}, status=401
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="OK\n")

    async def _metadata(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)  # not `or`: a response is a mapping, and an empty one is falsy
        return refused if refused is not None else web.json_response(self.metadata)

    async def _act(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        self.batcher.clients += 1  # a request in progress counts as a client the batcher may wait for
        try:
            return await self._answer_http(request)
        finally:
            self.batcher.clients -= 1

    async def _answer_http(self, request: web.Request) -> web.Response:
        try:
            try:
                body = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return web.json_response(
                    {"error": f"request body over the limit of {self.max_request_bytes} bytes"}, status=413
                )
            payload = json_codec.loads(body)
            double = isinstance(payload, dict) and "encoded" in payload
            if double:  # OpenVLA's variant for clients without json-numpy: the body is a JSON string
                if not isinstance(payload["encoded"], str):
                    raise BadRequest("'encoded' must hold the request as JSON text")
                payload = json_codec.loads(payload["encoded"])
            observation, instruction = parse_openvla(payload, self.spec)
            reply = await self.batcher.act(observation, instruction)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        action = reply.actions if self.spec.horizon > 1 else reply.actions[0]
        text = json_codec.dumps(action)
        headers = {"X-Infer-Ms": f"{reply.infer_ms:.3f}", "X-Batch-Size": str(reply.batch_size)}
        return web.Response(
            text=json.dumps(text) if double else text, content_type="application/json", headers=headers
        )

    # -- websocket -----------------------------------------------------------------------------
    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=self.max_request_bytes, compress=False)
        if not ws.can_prepare(request).ok:
            return web.Response(
                status=400,
                text="this is a websocket endpoint (openpi's msgpack protocol); over HTTP use "
                "POST /act, GET /metadata, GET /healthz\n",
            )
        given = header_key(request.headers)
        if given is not None and not key_matches(self.api_key, given):
            return web.json_response({"error": "wrong API key"}, status=401)
        await ws.prepare(request)
        self._sockets.add(ws)
        self.batcher.clients += 1
        try:
            if self.api_key is not None and given is None and not await self._authenticate(ws):
                return ws
            await ws.send_bytes(msgpack_codec.packb(self.metadata))
            while True:
                msg = await ws.receive()
                if msg.type == WSMsgType.BINARY:
                    answer: bytes | str = await self._answer(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    answer = "error: send requests as binary msgpack frames, not text"
                else:  # close, or an error such as a message over the limit (closed with its code)
                    if msg.type == WSMsgType.ERROR:
                        log.info("websocket client %s: %s", request.remote, msg.data)
                    break
                try:
                    if isinstance(answer, str):
                        await ws.send_str(answer)
                    else:
                        await ws.send_bytes(answer)
                except (ConnectionError, RuntimeError):  # the client went away mid-request
                    break
        finally:
            self._sockets.discard(ws)
            self.batcher.clients -= 1
        return ws

    async def _authenticate(self, ws: web.WebSocketResponse) -> bool:
        """First-message authentication: the server sends one text frame saying a key is needed,
        then waits :data:`AUTH_TIMEOUT` seconds for ``{"api_key": KEY}`` (msgpack) before the
        metadata is sent."""
        try:
            await ws.send_str(
                "auth required: send the header 'Authorization: Api-Key KEY' or, now, a msgpack map {'api_key': KEY}"
            )
            msg = await ws.receive(timeout=AUTH_TIMEOUT)
            given = msgpack_codec.unpackb(msg.data).get("api_key") if msg.type == WSMsgType.BINARY else None
        except (asyncio.TimeoutError, BadRequest, AttributeError, ConnectionError, RuntimeError):
            given = None
        if key_matches(self.api_key, given):
            return True
        try:
            await ws.send_str(
                "error: missing or wrong API key (send the header 'Authorization: Api-Key KEY' "
                "or a first msgpack message {'api_key': KEY})"
            )
            await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"unauthorized")
        except (ConnectionError, RuntimeError):
            pass
        return False

    async def _answer(self, data: bytes) -> bytes | str:
        """One msgpack request -> msgpack reply, or the error text."""
        received = time.monotonic()
        try:
            message: Any = msgpack_codec.unpackb(data)
            if isinstance(message, dict) and "__ctrl__" in message:  # openpi's episode markers
                return msgpack_codec.packb({"__ack__": str(message["__ctrl__"])})
            observation, instruction = parse_openpi(message, self.spec)
            reply = await self.batcher.act(observation, instruction)
        except BadRequest as exc:
            return f"error: {exc}"
        timing = {
            "infer_ms": reply.infer_ms,
            "queue_ms": reply.queue_ms,
            "total_ms": 1000 * (time.monotonic() - received),
            "batch_size": reply.batch_size,
        }
        return msgpack_codec.packb({"actions": reply.actions, "server_timing": timing})
