"""Writing files so that nothing is left half written: write a temp file, then rename.

The files get the permissions any new file would get (``0o666`` less the user's umask), not the
``0o600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:  # POSIX; elsewhere :func:`file_lock` does not lock
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


def _new_temp_file(path: Path) -> Path:
    """Create an empty, new file beside ``path`` with mode ``0o666`` less the umask (the kernel's)."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_file(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing, left behind) for the ``with`` block,
    waiting while another process holds it.

    For a file that several processes may set out to make at once (DDP ranks preparing the same
    cached data): the first makes it, the others wait and then read what it made. The lock is the
    kernel's (``flock``): it goes with the process that holds it, however that process ends.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def check_creatable_dir(path: str | Path, what: str) -> Path:
    """Raise :class:`VlakitError` unless ``path`` is a directory or could be created as one
    (its first existing ancestor is a writable directory); creates nothing. ``what`` names the
    option or setting in the message."""
    from vlakit.errors import VlakitError

    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        where = " (it is a file)" if probe == path else f" ({probe} is a file)"
        raise VlakitError(f"{what}: cannot make directory {path}{where}")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise VlakitError(f"{what}: cannot write into {probe} (permission denied)")
    return path
