"""Starting DDP's worker processes, and ending the run when one of them ends badly.

Lightning's launcher re-runs the command once per extra rank and watches those processes from a
thread; when one exits with a non-zero code it kills every process, its own included
(``SIGKILL``: the shell reports "Killed", exit 137). A Ctrl-C that lands while the ranks are
still meeting (rank 0 waits inside the rendezvous, where Python's signal handler cannot run) then
ended as a kill; without the watcher rank 0 would wait for the dead rank until the rendezvous
times out (30 minutes).

Here the watcher kills the other workers at once (they would wait in a collective), gives the
main process a few seconds to end by itself (it usually got the same Ctrl-C and exits 130 after
its own clean-up), and otherwise ends it with the worker's exit code: 130 for an interrupt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from lightning.fabric.utilities.distributed import _set_num_threads_if_needed
from lightning.pytorch.strategies.launchers import _SubprocessScriptLauncher

#: seconds the main process gets to end by itself after a worker ended badly
GRACE_S = 5.0


def exit_code_of(returncode: int) -> int:
    """A worker's ``Popen.returncode`` as a process exit code: 130 for an interrupt (exit 130 or
    killed by SIGINT), 128 + N for another signal N, the code itself otherwise."""
    if returncode == -signal.SIGINT:
        return 130
    return 128 - returncode if returncode < 0 else returncode


class WorkerWatcher(threading.Thread):
    """Polls the worker processes every ``period`` seconds; see the module docstring."""

    def __init__(self, workers: list[subprocess.Popen], period: float = 1.0, grace: float = GRACE_S) -> None:
        super().__init__(daemon=True, name="vlakit-worker-watcher")  # ends with the main process
        self.workers = workers
        self.period = period
        self.grace = grace

    def run(self) -> None:
        while True:
            time.sleep(self.period)
            codes = [w.poll() for w in self.workers]
            if all(code == 0 for code in codes):
                return
            failed = [(rank, code) for rank, code in enumerate(codes, start=1) if code]
            if failed:
                self.end_run(*failed[0])
                return

    def end_run(self, rank: int, returncode: int) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
        code = exit_code_of(returncode)
        time.sleep(self.grace)  # the main process, if it can, exits before this returns
        reason = "was interrupted" if code == 130 else f"exited with code {code}"
        print(f"vlakit: training process of rank {rank} {reason}; stopping", file=sys.stderr, flush=True)
        os._exit(code)


class WatchedSubprocessLauncher(_SubprocessScriptLauncher):
    """Lightning's launcher for ``ddp`` (``popen``) with :class:`WorkerWatcher` as its watcher; the
    workers may be started before ``fit`` (:func:`workers_started_early`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started = False

    def start_workers(self) -> None:
        """Start the other ranks' processes (each re-runs the command) and watch them; once."""
        if self.started:
            return
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
            WorkerWatcher(self.procs).start()
        self.started = True

    def kill_workers(self) -> None:
        """Kill the workers still running (this process failed before they could meet it)."""
        for worker in self.procs:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

    def launch(self, function: Callable, *args: Any, trainer: Any = None, **kwargs: Any) -> Any:
        self.start_workers()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)


@contextmanager
def workers_started_early(trainer: Any) -> Iterator[None]:
    """Start ``trainer``'s other DDP ranks now when its launcher is :class:`WatchedSubprocessLauncher`
    (else do nothing), so that they import and prepare their data while this process prepares its
    own instead of after it; any error in the ``with`` block kills them before it propagates."""
    launcher = getattr(trainer.strategy, "launcher", None)
    if not isinstance(launcher, WatchedSubprocessLauncher):
        yield
        return
    launcher.start_workers()
    try:
        yield
    except BaseException:
        launcher.kill_workers()
        raise
