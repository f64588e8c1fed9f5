"""Calling the policy in a worker thread, so a stalled policy can be given up on."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from typing import Any

from vlakit.errors import RobotError

#: worker threads given up on while a call was still running in them (see :func:`abandoned_threads`)
_abandoned: list[threading.Thread] = []


def abandoned_threads() -> list[threading.Thread]:
    """Worker threads still running a call that was given up on (a stalled policy).

    Such a thread may be inside native code (torch) when the interpreter shuts down, which can
    abort the process (``terminate called without an active exception``); a program that ends
    while this list is non-empty should leave with ``os._exit`` after flushing its output.
    """
    return [t for t in _abandoned if t.is_alive()]


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
    alive; it is listed by :func:`abandoned_threads`) and the worker refuses further calls.
    ``timeout=None`` calls inline, without a thread. :meth:`close` (or leaving ``with``) ends the
    thread and waits for it: a thread left running at interpreter exit can abort the process.
    """

    def __init__(self, timeout: float | None) -> None:
        if timeout is not None and not 0 < timeout < math.inf:
            raise RobotError(f"stall timeout must be positive, finite seconds, got {timeout}")
        self.timeout = timeout
        self.stalled = False
        self._requests: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], _Reply] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._closed = False
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
        if self._closed:
            raise RobotError("this policy worker was closed; it takes no more calls")
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
        """End the thread: wait (at most the stall timeout) for a call still running, then join it.

        A thread still busy after that (a stalled policy) is abandoned: see :func:`abandoned_threads`.
        """
        thread = self._thread
        if thread is None or self._closed:
            return
        self._closed = True
        self._requests.put(None)
        thread.join(0.0 if self.stalled else self.timeout)
        if thread.is_alive():
            _abandoned.append(thread)

    def __enter__(self) -> PolicyWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
