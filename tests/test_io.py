"""Atomic writes: all or nothing, with the permissions the user's umask gives new files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from vlakit.io import atomic_path, atomic_write_bytes, atomic_write_text


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_honour_the_umask(umask: int, tmp_path: Path) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "hello")
        atomic_write_bytes(tmp_path / "sub" / "b.bin", b"\x00\x01")
    finally:
        os.umask(old)
    for path in (tmp_path / "a.txt", tmp_path / "sub" / "b.bin"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert (tmp_path / "a.txt").read_text() == "hello"


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "kept.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]
