from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from plugin_dist import install_plugin_dist, uninstall

from vlakit.plugins import reset_plugins

# Tiny models on a shared 2-core machine: one thread avoids OpenMP contention (100x slowdowns).
torch.set_num_threads(1)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ddp_in_this_process() -> Iterator[None]:
    """For a test that runs a distributed strategy in the pytest process: afterwards the process
    group is destroyed and the environment restored (Lightning leaves MASTER_PORT, LOCAL_RANK and
    NODE_RANK set, and a live group would be reused by the next test's run)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """A factory installing real plugin distributions for one test; removed afterwards."""
    installed: list[tuple[Path, list[str]]] = []

    def install(dist: str, modules: dict[str, str], entry_points: dict[str, str], version: str = "1.0.0"):
        root = tmp_path / f"site-{dist}"
        install_plugin_dist(root, dist, modules, entry_points, version)
        installed.append((root, [m.split(".")[0] for m in modules]))
        reset_plugins()
        return root

    monkeypatch.delenv("VLAKIT_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("VLAKIT_BUILTINS_ONLY", raising=False)
    monkeypatch.delenv("VLAKIT_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("VLAKIT_LOAD_PLUGINS", raising=False)
    yield install
    for root, mods in installed:
        uninstall(root, mods)
    reset_plugins()


@pytest.fixture(scope="session")
def serve_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny untrained bundles for the serving tests: ``plain`` (one camera, single actions) and
    ``chunks`` (chunks of 4, a state of 3)."""
    pytest.importorskip("vlakit_tabletop")
    from conftest_bundles import TINY_RECIPE, chunked_state_recipe, export_tiny_bundle

    tmp = tmp_path_factory.mktemp("serve-bundles")
    return {
        "plain": export_tiny_bundle(tmp, TINY_RECIPE, "plain"),
        "chunks": export_tiny_bundle(tmp, chunked_state_recipe(4), "chunks", state_dim=3),
    }
