"""Environment variables set for a block and put back afterwards (in-process calls such as tests
and notebooks must not leave one command's settings behind for the next)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager


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
