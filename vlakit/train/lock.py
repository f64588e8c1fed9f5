"""A run directory is used by one training at a time: an exclusive lock on ``<run>/.lock``.

The lock is the kernel's (``flock``), so it goes with the process that holds it, however that
process ends; the ``.lock`` file left behind is harmless. Processes a training starts itself (DDP
workers re-running the command) inherit the right to the directory through the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vlakit.environ import environ_set
from vlakit.errors import VlakitError

try:  # POSIX; elsewhere run directories are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".lock"
#: set while a process holds a run directory's lock; its child processes share the directory
HELD_ENV = "VLAKIT_RUN_LOCK_HELD"


class RunDirInUse(VlakitError):
    """Another training is writing into this run directory."""


@contextmanager
def run_dir_lock(run: Path) -> Iterator[None]:
    """Hold ``run``'s lock for the ``with`` block; :class:`RunDirInUse` when another process has it."""
    run.mkdir(parents=True, exist_ok=True)
    key = str(run.resolve())
    if fcntl is None or os.environ.get(HELD_ENV) == key:
        yield
        return
    fd = os.open(run / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RunDirInUse(
                f"run directory {run} is in use by another training (pid {holder}); wait for it "
                "or choose another --run-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        with environ_set({HELD_ENV: key}):
            yield
    finally:
        os.close(fd)  # releases the lock
