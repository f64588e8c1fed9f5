"""The dynamic batcher of ``vlakit serve``, with a small scripted batch policy (no model)."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from vlakit.serve.batcher import DynamicBatcher
from vlakit.serve.errors import InferenceFailed, ServerClosing
from vlakit.types import ActionSpace, Observation

SPACE = ActionSpace(names=("a",), units=("u",), low=(-1e6,), high=(1e6,))


class SummingPolicy:
    """Action = mean pixel of the image, per observation; raises on the instruction "boom".

    Records the batch sizes it was called with; ``gate`` (when set) holds each call until released.
    """

    action_space = SPACE

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate: threading.Event | None = None
        self.thread_names: set[str] = set()

    def act_batch(self, observations, instructions) -> np.ndarray:
        self.thread_names.add(threading.current_thread().name)
        self.calls.append(list(instructions))
        if self.gate is not None:
            assert self.gate.wait(10)
        if "boom" in instructions:
            raise ValueError("cannot do boom")
        return np.array([[float(o.images["cam"].mean())] for o in observations], np.float32)


def obs(value: int, size: int = 4) -> Observation:
    return Observation(images={"cam": np.full((size, size, 3), value, np.uint8)})


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_concurrent_requests_share_one_call_off_the_event_loop() -> None:
    policy = SummingPolicy()

    async def main():
        batcher = DynamicBatcher(policy, max_batch_size=8, max_wait=0.5)
        batcher.clients = 5
        await batcher.start()
        replies = await asyncio.gather(*(batcher.act(obs(i), f"t{i}") for i in range(5)))
        await batcher.close()
        return replies

    replies = run(main())
    assert [r.actions.tolist() for r in replies] == [[[float(i)]] for i in range(5)]  # [H=1, D=1] each
    assert policy.calls == [["t0", "t1", "t2", "t3", "t4"]] and all(r.batch_size == 5 for r in replies)
    assert policy.thread_names == {"vlakit-infer_0"}  # the model runs in the worker thread


def test_a_lone_client_does_not_wait_and_batches_respect_the_bound() -> None:
    policy = SummingPolicy()

    async def main():
        batcher = DynamicBatcher(policy, max_batch_size=3, max_wait=5.0)  # a wait that would show
        batcher.clients = 1
        await batcher.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await batcher.act(obs(1), "alone")
        alone = loop.time() - t0
        batcher.clients, batcher.max_wait = 7, 0.05  # the last batch of one waits for company, briefly
        await asyncio.gather(*(batcher.act(obs(i), "x") for i in range(7)))
        await batcher.close()
        return alone

    assert run(main()) < 2.0
    assert [len(c) for c in policy.calls] == [1, 3, 3, 1]


def test_one_bad_input_fails_only_its_own_request() -> None:
    policy = SummingPolicy()

    async def main():
        batcher = DynamicBatcher(policy, max_batch_size=8, max_wait=0.5)
        batcher.clients = 3
        await batcher.start()
        out = await asyncio.gather(
            batcher.act(obs(1), "ok"),
            batcher.act(obs(2), "boom"),
            batcher.act(obs(3), "ok"),
            return_exceptions=True,
        )
        await batcher.close()
        return out

    good1, bad, good3 = run(main())
    assert good1.actions[0, 0] == 1.0 and good3.actions[0, 0] == 3.0
    assert isinstance(bad, InferenceFailed) and "ValueError: cannot do boom" in str(bad)
    assert policy.calls == [["ok", "boom", "ok"], ["ok"], ["boom"], ["ok"]]  # batched, then one by one


def test_images_of_different_sizes_go_in_separate_calls() -> None:
    policy = SummingPolicy()

    async def main():
        batcher = DynamicBatcher(policy, max_batch_size=8, max_wait=0.5)
        batcher.clients = 4
        await batcher.start()
        out = await asyncio.gather(
            batcher.act(obs(1, 4), "a"),
            batcher.act(obs(2, 8), "b"),
            batcher.act(obs(3, 4), "c"),
            batcher.act(obs(4, 8), "d"),
        )
        await batcher.close()
        return out

    out = run(main())
    assert [r.actions[0, 0] for r in out] == [1.0, 2.0, 3.0, 4.0]
    assert sorted(policy.calls) == [["a", "c"], ["b", "d"]]


def test_closing_fails_waiting_and_running_requests() -> None:
    policy = SummingPolicy()
    policy.gate = threading.Event()

    async def main():
        batcher = DynamicBatcher(policy, max_batch_size=1, max_wait=0.0)
        await batcher.start()
        running = asyncio.ensure_future(batcher.act(obs(1), "first"))
        waiting = asyncio.ensure_future(batcher.act(obs(2), "second"))
        while not policy.calls:
            await asyncio.sleep(0.01)
        await batcher.close()
        policy.gate.set()
        results = await asyncio.gather(running, waiting, return_exceptions=True)
        with pytest.raises(ServerClosing):
            await batcher.act(obs(3), "late")
        return results

    assert all(isinstance(r, ServerClosing) for r in run(main()))
