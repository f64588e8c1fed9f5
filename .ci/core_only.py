"""CI: the core installed alone (no plugin distribution) imports every module of vlakit/ without
the heavy libraries, lists plugins, and `vlakit validate` of the default recipe names the
distributions to install (exit 2, one message, no traceback).

Run from the repository root with the core-only environment's python:
    .venv-core/bin/python .ci/core_only.py
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

HEAVY = ("transformers", "peft", "timm", "serial", "pyarrow", "av", "tokenizers", "torchvision")
PLUGINS = ("vlakit_codecs", "vlakit_convnet", "vlakit_hf", "vlakit_timm", "vlakit_lerobot",
           "vlakit_vqa_json", "vlakit_tabletop", "vlakit_serial_arm")
BIN = Path(sys.executable).parent


def main() -> int:
    present = [name for name in HEAVY + PLUGINS if importlib.util.find_spec(name) is not None]
    assert not present, f"the core-only environment has {present}"

    import vlakit

    modules = [m.name for m in pkgutil.walk_packages(vlakit.__path__, "vlakit.") if not m.name.endswith("__main__")]
    for name in modules:
        importlib.import_module(name)
    leaked = [name for name in HEAVY if name in sys.modules]
    assert not leaked, f"importing vlakit imported {leaked}"
    print(f"imported {len(modules)} modules of vlakit/ without {', '.join(HEAVY)}")

    listing = subprocess.run([BIN / "vlakit", "plugins"], capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0 and "no plugins installed" in listing.stdout, listing.stdout + listing.stderr
    print("vlakit plugins: exit 0,", listing.stdout.strip())

    check = subprocess.run(
        [BIN / "vlakit", "validate", "recipes/tabletop-tiny.yaml"], capture_output=True, text=True, timeout=120
    )
    out = check.stdout + check.stderr
    assert check.returncode == 2, f"exit {check.returncode}: {out}"
    assert "Traceback" not in out, out
    for dist in ("vlakit-codecs", "vlakit-convnet", "vlakit-hf", "vlakit-tabletop"):
        assert dist in out, f"{dist} not named in: {out}"
    print("vlakit validate recipes/tabletop-tiny.yaml: exit 2,", out.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
