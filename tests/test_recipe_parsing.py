"""Hostile recipe files: each is refused with one message naming the file, exit 2, bounded in
time and memory (issue 17, "resource exhaustion")."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vlakit.cli.main import main
from vlakit.recipes import loader

#: a recipe that validates, to extend from
BASE = """\
name: base
model:
  language: {type: hf}
  codec: {type: uniform-bins, bins: 256}
data:
  train:
    - {type: tabletop-demos, episodes: 4}
trainer: {max_steps: 5, batch_size: 2, accelerator: cpu, devices: 1}
"""

#: seven lines of aliases, each nine of the line before: 9**8 values from 300 bytes
ALIAS_BOMB = "name: bomb\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh")
)


def validate(path: Path | str, capsys, *overrides: str) -> tuple[int, str]:
    code = main(["validate", str(path), *overrides])
    err = capsys.readouterr().err
    return code, err


def assert_one_message(code: int, err: str, *expected: str) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and err.count("error: ") == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err


def run_limited(args: list[str], cwd: Path, memory_bytes: int = 1 << 30, timeout: float = 60) -> subprocess.CompletedProcess:
    """``vlakit ARGS`` in a child process limited to ``memory_bytes`` of address space."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes * 4, memory_bytes * 4))  # torch maps a lot

    return subprocess.run(
        [sys.executable, "-m", "vlakit", *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, preexec_fn=limit,
    )


def test_alias_bomb_is_refused_quickly_and_small(tmp_path: Path):
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    assert path.stat().st_size < 450
    start = time.perf_counter()
    proc = run_limited(["validate", str(path)], tmp_path)
    assert time.perf_counter() - start < 30
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "aliases expand to more than" in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_aliases_within_bounds_still_work(tmp_path: Path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(BASE.replace(
        "    - {type: tabletop-demos, episodes: 4}\n",
        "    - &demos {type: tabletop-demos, episodes: 4}\n    - {<<: *demos, seed: 1, weight: 0.5}\n",
    ))
    code, err = validate(path, capsys)
    assert code == 0, err
    recipe = loader.load_recipe(path)
    assert [b["seed"] for b in recipe.data.train] == [0, 1]


def test_recursive_alias_is_refused(tmp_path: Path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(BASE + "description: &d [*d]\n")
    code, err = validate(path, capsys)
    assert_one_message(code, err, str(path), "recursive")


@pytest.mark.parametrize("kind", ["sequences", "mappings"])
def test_deep_nesting_is_refused(kind: str, tmp_path: Path, capsys):
    path = tmp_path / "deep.yaml"
    if kind == "sequences":
        path.write_text("description: " + "[" * 2000 + "]" * 2000 + "\n")
    else:
        path.write_text("".join("  " * i + f"k{i}:\n" for i in range(600)) + "  " * 600 + "x\n")
    code, err = validate(path, capsys)
    assert_one_message(code, err, str(path), "nesting deeper than")


@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "directory"])
def test_extends_of_a_file_that_is_not_regular_is_refused(target: str, tmp_path: Path, capsys):
    if target == "fifo":
        target = str(tmp_path / "pipe")
        os.mkfifo(target)  # opening it for reading would block forever
    elif target == "directory":
        target = str(tmp_path)
    path = tmp_path / "r.yaml"
    path.write_text(f"extends: {target}\n" + BASE)
    code, err = validate(path, capsys)
    assert_one_message(code, err, "cannot read recipe", target)


def test_dev_zero_as_the_recipe_is_refused(capsys):
    code, err = validate("/dev/zero", capsys)
    assert_one_message(code, err, "/dev/zero", "not a regular file")


def test_large_file_is_refused(tmp_path: Path, capsys):
    path = tmp_path / "big.yaml"
    path.write_text(BASE + "description: " + "x" * (2 << 20) + "\n")
    code, err = validate(path, capsys)
    assert_one_message(code, err, str(path), "bytes")


def test_non_utf8_file_is_refused(tmp_path: Path, capsys):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.encode() + "description: café\n".encode("latin-1"))
    code, err = validate(path, capsys)
    assert_one_message(code, err, f"{path}:9:", "not UTF-8", "0xe9")


def test_huge_integer_is_refused(tmp_path: Path, capsys):
    path = tmp_path / "r.yaml"
    path.write_text(BASE.replace("max_steps: 5", "max_steps: " + "9" * 5000))
    code, err = validate(path, capsys)
    assert_one_message(code, err, str(path), "too many digits")


def test_long_extends_chain_is_refused(tmp_path: Path, capsys):
    for i in range(1200):
        head = f"extends: r{i + 1}.yaml\n" if i < 1199 else BASE
        (tmp_path / f"r{i}.yaml").write_text(head + f"description: level {i}\n")
    code, err = validate(tmp_path / "r0.yaml", capsys)
    assert_one_message(code, err, "chain of base recipes is deeper than", "r0.yaml")


def test_extends_diamond_reads_each_file_once(tmp_path: Path, capsys, monkeypatch):
    """l_i extends a_i and b_i, which both extend l_{i+1}: 2**levels paths, 3 * levels files."""
    levels = 10
    for i in range(levels):
        if i < levels - 1:
            (tmp_path / f"l{i}.yaml").write_text(f"extends: [a{i}.yaml, b{i}.yaml]\n")
            (tmp_path / f"a{i}.yaml").write_text(f"extends: l{i + 1}.yaml\n")
            (tmp_path / f"b{i}.yaml").write_text(f"extends: l{i + 1}.yaml\ndescription: b{i}\n")
        else:
            (tmp_path / f"l{i}.yaml").write_text(BASE)
    reads: list[Path] = []
    real_read = loader.read_yaml
    monkeypatch.setattr(loader, "read_yaml", lambda path, sources: reads.append(path) or real_read(path, sources))
    code, err = validate(tmp_path / "l0.yaml", capsys)
    assert code == 0, err
    assert len(reads) == len(set(reads)) == 3 * levels - 2


def test_extends_diamond_of_30_levels_ends(tmp_path: Path, capsys):
    """Each level extends the next one twice: 2**30 reads before, 30 now."""
    for i in range(30):
        (tmp_path / f"l{i}.yaml").write_text(f"extends: [l{i + 1}.yaml, l{i + 1}.yaml]\n" if i < 29 else BASE)
    start = time.perf_counter()
    code, err = validate(tmp_path / "l0.yaml", capsys)
    assert time.perf_counter() - start < 10
    assert code == 0, err


def test_too_many_extended_files_are_refused(tmp_path: Path, capsys):
    names = [f"b{i}.yaml" for i in range(loader.MAX_EXTENDS_FILES + 1)]
    for name in names:
        (tmp_path / name).write_text("description: x\n")
    (tmp_path / "r.yaml").write_text(f"extends: [{', '.join(names)}]\n" + BASE)
    code, err = validate(tmp_path / "r.yaml", capsys)
    assert_one_message(code, err, "more than", "files")


def test_hostile_override_values_are_refused(capsys, tmp_path: Path):
    path = tmp_path / "r.yaml"
    path.write_text(BASE)
    bomb = "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], " \
        "&d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]]"
    code, err = validate(path, capsys, f"description={bomb}")
    assert_one_message(code, err, "bad override", "aliases expand")
    code, err = validate(path, capsys, "description=" + "[" * 1000 + "]" * 1000)
    assert_one_message(code, err, "bad override", "nesting deeper")
    code, err = validate(path, capsys, ".".join(["a"] * 500) + "=1")
    assert_one_message(code, err, "bad override", "deeper than")


def test_errors_name_the_file_that_wrote_the_value(tmp_path: Path, capsys):
    """Through a diamond, a bad value is located in the base that wrote it, an override of it in
    the child."""
    (tmp_path / "base.yaml").write_text(BASE.replace("batch_size: 2", "batch_size: -2"))
    (tmp_path / "left.yaml").write_text("extends: base.yaml\n")
    (tmp_path / "right.yaml").write_text("extends: base.yaml\ndescription: right\n")
    (tmp_path / "top.yaml").write_text("extends: [left.yaml, right.yaml]\ntrainer:\n  lr: -1\n")
    code, err = validate(tmp_path / "top.yaml", capsys)
    assert_one_message(code, err, f"{tmp_path / 'base.yaml'}:8: trainer.batch_size", f"{tmp_path / 'top.yaml'}:3: trainer.lr")
