"""Dynamic batching: concurrent requests gathered into one ``act_batch`` call off the event loop.

Requests wait in a queue. One task takes the first, then gathers more until the batch is full,
or until ``max_wait`` seconds have passed, or as soon as it holds one request per connected
client (a lone client never waits). Inference runs in one worker thread, so the event loop keeps
reading, answering errors and health checks while the model works; requests that arrive
meanwhile form the next batch. Observations whose images differ in size go in separate calls.
When a batched call fails, its requests are retried one by one so that one bad input fails only
its own request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlakit.runtime.protocols import BatchPolicy
from vlakit.serve.errors import InferenceFailed, ServerClosing
from vlakit.types import Observation

log = logging.getLogger(__name__)


@dataclass
class Reply:
    """Actions ``float32`` ``[H, D]`` in robot units and the server's timing, milliseconds."""

    actions: np.ndarray
    infer_ms: float
    queue_ms: float
    batch_size: int


@dataclass
class _Item:
    observation: Observation
    instruction: str
    future: asyncio.Future
    queued: float = field(default_factory=time.monotonic)

    def key(self) -> tuple[Any, ...]:
        shapes = tuple(sorted((cam, img.shape) for cam, img in self.observation.images.items()))
        return shapes, self.observation.state is None


class DynamicBatcher:
    """Batches :meth:`act` calls from many coroutines through ``policy.act_batch``.

    ``max_batch_size``: most observations per call; ``max_wait``: seconds the first request of a
    batch may wait for company. ``clients`` (set by the server) is the number of connected clients.
    """

    def __init__(self, policy: BatchPolicy, max_batch_size: int = 16, max_wait: float = 0.002) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be >= 0 seconds, got {max_wait}")
        self.policy = policy
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.clients = 0
        self.batches = 0
        self.requests = 0
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlakit-infer")
        self._closing = False
        self._running: list[_Item] = []

    async def start(self) -> None:
        """Start the gathering task on the running event loop."""
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="vlakit-batcher")

    async def act(self, observation: Observation, instruction: str) -> Reply:
        """The action chunk for one observation, computed in some batch."""
        if self._closing or self._queue is None:
            raise ServerClosing("the server is shutting down")
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(observation, instruction, future))
        return await future

    async def close(self) -> None:
        """Stop taking requests, fail the waiting ones, let the running call finish."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        waiting = list(self._running)
        if self._queue is not None:
            while not self._queue.empty():
                waiting.append(self._queue.get_nowait())
        for item in waiting:
            if not item.future.done():
                item.future.set_exception(ServerClosing("the server is shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _gather(self) -> list[_Item]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0 or len(batch) >= max(1, self.clients):
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return [item for item in batch if not item.future.done()]  # drop clients that went away

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            if not batch:
                continue
            started = time.monotonic()
            self._running = batch
            results = await loop.run_in_executor(self._executor, self._infer, batch)
            self._running = []
            infer_ms = 1000 * (time.monotonic() - started)
            self.batches += 1
            self.requests += len(batch)
            for item, result in zip(batch, results):
                if item.future.done():
                    continue
                if isinstance(result, BaseException):
                    item.future.set_exception(result)
                else:
                    queue_ms = 1000 * (started - item.queued)
                    item.future.set_result(Reply(result, infer_ms, queue_ms, len(batch)))

    def _infer(self, batch: list[_Item]) -> list[np.ndarray | BaseException]:
        """Runs in the worker thread: one ``act_batch`` per group of equally sized inputs."""
        results: list[np.ndarray | BaseException] = [None] * len(batch)  # type: ignore[list-item]
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, item in enumerate(batch):
            groups.setdefault(item.key(), []).append(i)
        for indices in groups.values():
            try:
                chunks = self._call([batch[i] for i in indices])
            except Exception as exc:
                if len(indices) == 1:
                    results[indices[0]] = _failure(exc)
                else:  # isolate the request that broke the batch
                    for i in indices:
                        results[i] = self._one(batch[i])
                continue
            for j, i in enumerate(indices):
                results[i] = chunks[j]
        return results

    def _call(self, items: list[_Item]) -> np.ndarray:
        out = np.asarray(
            self.policy.act_batch([it.observation for it in items], [it.instruction for it in items]),
            dtype=np.float32,
        )
        return out[:, None, :] if out.ndim == 2 else out  # always [B, H, D]

    def _one(self, item: _Item) -> np.ndarray | BaseException:
        try:
            return self._call([item])[0]
        except Exception as exc:
            return _failure(exc)


def _failure(exc: Exception) -> InferenceFailed:
    log.warning("inference failed on one request: %s: %s", type(exc).__name__, exc)
    return InferenceFailed(f"the policy failed on this request: {type(exc).__name__}: {exc}")
