"""Running the policy server: in the foreground (``vlakit serve``) or in a background thread
(tests, benchmarks, a notebook)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import web

from vlakit.errors import VlakitError
from vlakit.network import is_loopback
from vlakit.runtime.protocols import BatchPolicy
from vlakit.serve.app import PolicyApp
from vlakit.serve.batcher import DynamicBatcher
from vlakit.serve.spec import PolicySpec

#: Seconds a background server may take to start or stop.
START_TIMEOUT = 30.0


def exposure_warning(host: str, api_key: str | None) -> str | None:
    """The warning to print when ``host`` lets other machines reach the server, else ``None``."""
    if is_loopback(host):
        return None
    key = (
        "clients must send the API key"
        if api_key
        else "no API key is set (--api-key), so anyone who can reach the port can drive the robot's policy"
    )
    return (
        f"warning: serving on {host}, reachable from other machines; {key}. Traffic is not "
        "encrypted: keep it on a trusted network or behind a TLS proxy / SSH tunnel."
    )


class PolicyServer:
    """One policy served on ``host:port`` (``port=0``: any free port, see :attr:`port`)."""

    def __init__(
        self,
        policy: BatchPolicy,
        spec: PolicySpec,
        host: str = "127.0.0.1",
        port: int = 8000,
        max_batch_size: int = 16,
        max_wait: float = 0.002,
        api_key: str | None = None,
        max_request_bytes: int = 16 * 2**20,
    ) -> None:
        self.host = host
        self.port = port
        self.batcher = DynamicBatcher(policy, max_batch_size=max_batch_size, max_wait=max_wait)
        self.app = PolicyApp(self.batcher, spec, max_request_bytes=max_request_bytes, api_key=api_key)
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Bind and start serving; returns the port. A port in use is a :class:`VlakitError`."""
        self._runner = web.AppRunner(self.app.build(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise VlakitError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        return self.port

    async def stop(self) -> None:
        """Close every connection (code 1001, going away) and stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def serve_forever(self, on_start: Any = None) -> None:
        """Serve until Ctrl-C; ``on_start(port)`` is called once listening."""

        async def main() -> None:
            port = await self.start()
            if on_start is not None:
                on_start(port)
            try:
                await asyncio.Event().wait()
            finally:
                await self.stop()

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            pass

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"


class ServerThread:
    """A :class:`PolicyServer` running in a daemon thread with its own event loop.

    ``with ServerThread(server) as s: ... s.url ...``; :meth:`stop` may be called early (a server
    that goes away mid-episode).
    """

    def __init__(self, server: PolicyServer) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vlakit-serve", daemon=True)
        self._stopped = False

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> ServerThread:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(START_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(START_TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT)
            self._loop.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
