"""Calling the policy in a worker thread, so a stalled policy can be given up on."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from vlakit.errors import RobotError


class PolicyStalled(RobotError):
    """The policy did not answer within the stall timeout; the robot was brought to a safe state."""


class _Reply:
    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class PolicyWorker:
    """Runs calls one at a time in a daemon thread; :meth:`call` waits at most ``timeout`` seconds.

    A call that overruns raises :class:`PolicyStalled` at once. Python cannot kill a thread, so
    the overrunning call is abandoned (the thread is a daemon and does not keep the process
    alive) and the worker refuses further calls. ``timeout=None`` calls inline, without a thread.
    """

    def __init__(self, timeout: float | None) -> None:
        if timeout is not None and timeout <= 0:
            raise RobotError(f"stall timeout must be positive seconds, got {timeout}")
        self.timeout = timeout
        self.stalled = False
        self._requests: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], _Reply] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        if timeout is not None:
            self._thread = threading.Thread(target=self._serve, name="vlakit-policy", daemon=True)
            self._thread.start()

    def _serve(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            fn, args, reply = item
            try:
                reply.value = fn(*args)
            except BaseException as exc:  # handed to the caller's thread
                reply.error = exc
            reply.done.set()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, or :class:`PolicyStalled` when it takes longer than the timeout."""
        if self._thread is None:
            return fn(*args)
        if self.stalled:
            raise PolicyStalled("the policy stalled earlier; this worker takes no more calls")
        reply = _Reply()
        self._requests.put((fn, args, reply))
        if not reply.done.wait(self.timeout):
            self.stalled = True
            raise PolicyStalled(
                f"the policy did not answer within {self.timeout:g} s (stall timeout); the robot was "
                "stopped. Raise the stall timeout if the model is just slow on this machine."
            )
        if reply.error is not None:
            raise reply.error
        return reply.value

    def close(self) -> None:
        """Let the thread exit once its current call (if any) returns."""
        if self._thread is not None:
            self._requests.put(None)

    def __enter__(self) -> PolicyWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
