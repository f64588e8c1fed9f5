"""The process's environment: the CPU cores it may use, and environment variables and torch's
thread count set for a block and put back afterwards (in-process calls such as tests and
notebooks must not leave one command's settings behind for the next)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one, else every
    core the OS counts)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover  (not Linux)


@contextmanager
def restored_environ(*names: str) -> Iterator[None]:
    """After the block, each of ``names`` has its value from before it again (or is unset again)."""
    previous = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def environ_set(settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` in ``os.environ`` for the block, each variable restored afterwards."""
    with restored_environ(*settings):
        os.environ.update(settings)
        yield


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op thread count ``count`` for the block (unchanged when None or 0), and the
    count from before the block afterwards, whatever the block set meanwhile."""
    import torch

    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
