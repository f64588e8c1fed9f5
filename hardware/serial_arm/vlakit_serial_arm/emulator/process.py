"""``vlakit emulate`` in a subprocess, for scripts and tests of a whole setup."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def emulate_process(*args: str, timeout: float = 60.0) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``vlakit emulate ARGS`` (this Python) and yield ``(port, process)`` once it printed
    its port; on exit, Ctrl-C it (killed after 10 s). Raises :class:`RuntimeError` when no port
    came within ``timeout`` seconds."""
    code = "from vlakit.cli.main import main; raise SystemExit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "emulate", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(timeout, proc.kill)  # bounds the readline
    watchdog.start()
    try:
        first = proc.stdout.readline()
        watchdog.cancel()
        if not first.startswith("port: "):
            proc.kill()
            raise RuntimeError(f"vlakit emulate {' '.join(args)} printed no port: {first}{proc.stderr.read()}")
        yield first.split()[1], proc
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
