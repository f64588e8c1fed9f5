"""SHA-256 digests of a file and of a directory tree (what bundles record and check)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of the bytes of ``path`` (read in 1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(directory: str | Path) -> str:
    """Hex SHA-256 over the regular files under ``directory``: each file's relative POSIX path and
    SHA-256, sorted by path. Hidden files and folders (``.git``, ``.cache``) and Markdown files
    (model cards) are left out; symlinks are followed, so a directory of links hashes as its targets.
    """
    root = Path(directory)
    entries = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith(".") or name.lower().endswith(".md"):
                continue
            path = Path(folder) / name
            if path.is_file():
                entries.append((path.relative_to(root).as_posix(), sha256_file(path)))
    h = hashlib.sha256()
    for rel, digest in sorted(entries):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()
