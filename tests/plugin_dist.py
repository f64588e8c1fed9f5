"""Install a real plugin distribution (dist-info with entry_points.txt) into a folder on sys.path."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path


def install_plugin_dist(
    root: Path,
    dist: str,
    modules: dict[str, str],
    entry_points: dict[str, str],
    version: str = "1.0.0",
) -> Path:
    """Write ``modules`` (dotted name -> source) and a ``dist``-``version``.dist-info into ``root``.

    ``entry_points`` maps entry-point name -> ``module`` for the ``vlakit`` group. ``root`` is put
    at the front of ``sys.path`` so :mod:`importlib.metadata` discovers the distribution.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name, source in modules.items():
        parts = name.split(".")
        pkg = root.joinpath(*parts[:-1])
        pkg.mkdir(parents=True, exist_ok=True)
        for i in range(1, len(parts)):
            init = root.joinpath(*parts[:i], "__init__.py")
            init.touch()
        root.joinpath(*parts[:-1], parts[-1] + ".py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[vlakit]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "RECORD").write_text("")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    return root


def uninstall(root: Path, modules: list[str]) -> None:
    """Undo :func:`install_plugin_dist` for this process."""
    if str(root) in sys.path:
        sys.path.remove(str(root))
    for name in modules:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]
    importlib.invalidate_caches()
