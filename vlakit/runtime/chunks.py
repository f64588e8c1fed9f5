"""Asynchronous chunk execution: the robot executes the current action chunk while the next one
is being computed (as LeRobot's async inference does).

:class:`ChunkPrefetcher` wraps a policy that returns chunks ``[H, D]`` and itself answers one
action ``[D]`` per call (per control tick). When at most ``refill * H`` actions are left it
asks the policy for the next chunk, in a background thread, with the observation of that tick.
When the chunk arrives ``k`` ticks later, its first ``k`` actions are already in the past and
are skipped; the rest replaces what was queued. Only when the queue runs dry does a tick wait
for the policy (bounded by the control loop's stall timeout). With ``H = 1`` (or ``refill=0``)
it behaves exactly like calling the policy every tick.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from vlakit.runtime.protocols import ActingPolicy
from vlakit.runtime.safety import UnsafeAction
from vlakit.types import ActionSpace, Observation


class ChunkPrefetcher:
    """One action per :meth:`act` call from ``policy``'s chunks, the next chunk fetched early.

    ``refill``: fraction of a chunk (``0 <= refill < 1``) left in the queue when the next chunk
    is requested. An error of the policy surfaces at the next :meth:`act` call. ``check`` (if
    given) is called at every tick and may raise to stop at once, even with actions queued
    (e.g. a remote policy whose server went away).
    """

    def __init__(
        self, policy: ActingPolicy, refill: float = 0.5, check: Callable[[], None] | None = None
    ) -> None:
        if not 0.0 <= refill < 1.0:
            raise ValueError(f"refill must be in [0, 1), got {refill}")
        self.policy = policy
        self.refill = refill
        self.check = check
        self.requests = 0
        self.skipped = 0
        self._queue: deque[np.ndarray] = deque()
        self._chunk_len = 1
        self._future: Future | None = None
        self._age = 0  # ticks since the running request's observation was taken
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlakit-prefetch")

    @property
    def action_space(self) -> ActionSpace:
        return self.policy.action_space

    def act(self, observation: Observation, instruction: str) -> np.ndarray:
        """The action ``[D]`` for this tick."""
        if self.check is not None:
            self.check()
        if self._future is None and len(self._queue) <= int(self.refill * self._chunk_len):
            self._future = self._executor.submit(self.policy.act, observation, instruction)
            self._age = 0
            self.requests += 1
        if self._future is not None and (not self._queue or self._future.done()):
            self._take(self._future.result())
        self._age += 1
        return self._queue.popleft()

    def _take(self, raw: Any) -> None:
        chunk = np.asarray(raw, dtype=np.float32)
        if chunk.ndim == 1:
            chunk = chunk[None]
        if chunk.ndim != 2 or chunk.shape[0] == 0:
            raise UnsafeAction(
                f"the policy returned an action chunk of shape {list(chunk.shape)}, not [H, D]"
            )
        drop = min(self._age, chunk.shape[0] - 1)
        self.skipped += drop
        self._chunk_len = chunk.shape[0]
        self._queue = deque(chunk[drop:])
        self._future = None

    def close(self) -> None:
        """Stop the background thread (a running request is abandoned)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ChunkPrefetcher:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
