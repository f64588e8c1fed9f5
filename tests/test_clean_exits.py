"""`vlakit run` as a real process exits cleanly, every time.

It used to abort at interpreter exit (``terminate called without an active exception``, exit
134) in about one run of six: the policy's worker thread was still alive when Python shut down.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest_bundles import TINY_EVAL, TINY_RECIPE, export_tiny_bundle

pytest.importorskip("vlakit_tabletop")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny_bundle(tmp_path_factory.mktemp("bundle"), TINY_RECIPE + TINY_EVAL, "b")


def run_once(bundle: Path, seed: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "vlakit", "run", str(bundle), "--hz", "0", "--max-steps", "2"]
    return subprocess.run([*argv, "--seed", str(seed)], capture_output=True, text=True, env=env, timeout=300)


def assert_all_exit_cleanly(bundle: Path, runs: int) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda i: run_once(bundle, i), range(runs)))
    bad = [(i, r.returncode, r.stderr[-500:]) for i, r in enumerate(results) if r.returncode != 0]
    assert not bad, f"{len(bad)} of {runs} runs failed: {bad[:3]}"
    assert all("success:" in r.stdout and "terminate called" not in r.stderr for r in results)


def test_two_runs_exit_0(bundle: Path) -> None:
    assert_all_exit_cleanly(bundle, 2)


@pytest.mark.slow
def test_fifty_consecutive_runs_exit_0(bundle: Path) -> None:
    assert_all_exit_cleanly(bundle, 50)
