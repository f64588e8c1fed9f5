"""A recipe fuzz test: malformed variants of the shipped recipes, generated from their own
contents (wrong types, out-of-domain numbers, NaN and infinities, unknown keys, bad nesting,
hostile YAML), each through the real ``vlakit validate``: exit 2, one message, no traceback,
within a time and memory bound (issue 17)."""

from __future__ import annotations

import copy
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from vlakit.cli.main import main

REPO = Path(__file__).resolve().parents[1]
#: the shipped recipes that validate on a CPU machine, as bases (their extends resolved by copy)
BASES = ["tabletop-tiny.yaml", "tabletop-vit.yaml", "tabletop-cotrain.yaml"]
#: so that the bases pass on any machine (one CPU core is enough)
PORTABLE = {"accelerator": "cpu", "devices": 1, "strategy": "auto"}

#: values no field of a recipe accepts (every leaf is a number, a name, a flag or a list)
NOT_A_VALUE: list[Any] = [float("nan"), float("inf"), {"bogus": 1}]
#: more of them, for the slow variant
MORE_NOT_A_VALUE: list[Any] = [float("-inf"), [[{"x": None}]], 2**64, -(2**70), [float("nan")]]
#: out-of-domain numbers for numeric leaves: negative, far too large
BAD_NUMBERS: list[Any] = [-1, -0.5, 10**30]
#: keys whose values are free-form or accept any number: excluded from the number mutations
FREE_FORM = ("seed",)

#: hostile YAML texts, each a whole recipe
HOSTILE: dict[str, bytes] = {
    "alias-bomb": (
        "name: bomb\na: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh"))
    ).encode(),
    "recursive-alias": b"name: r\ndescription: &d [*d]\n",
    "deep-flow": b"description: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "deep-block": "".join("  " * i + f"k{i}:\n" for i in range(300)).encode(),
    "non-utf8": b"name: caf\xe9\n",
    "utf16": "name: x\n".encode("utf-16"),
    "python-tag": b"name: !!python/object/apply:os.system ['touch MARKER']\n",
    "binary-tag": b"name: !!binary aGVsbG8=\n",
    "huge-int": b"name: x\ntrainer: {max_steps: " + b"9" * 6000 + b"}\n",
    "tabs": b"name: x\n\tmodel: {}\n",
    "unclosed": b"model: {language: [\n",
    "list-doc": b"- a\n- b\n",
    "scalar-doc": b"just text\n",
    "two-docs": b"name: a\n---\nname: b\n",
    "unhashable-key": b"? [a, b]\n: 1\n",
    "null-key": b"~: 1\nname: x\n",
    "undefined-alias": b"name: *nope\n",
    "extends-dev-zero": b"extends: /dev/zero\n",
    "extends-number": b"extends: 7\n",
    "extends-missing": b"extends: [nowhere.yaml]\n",
    "extends-self": b"extends: variant.yaml\n",
    "nul-bytes": b"name: x\x00y\n",
}


def leaves(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """(path, value) of every scalar in a nested mapping/list."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, (*path, i))
    else:
        yield path, node


def mappings(node: Any, path: tuple = ()) -> Iterator[tuple]:
    """The path of every mapping, the root included."""
    if isinstance(node, dict):
        yield path
        for key, value in node.items():
            yield from mappings(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from mappings(value, (*path, i))


def set_at(data: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def base_recipe(name: str) -> dict[str, Any]:
    data = yaml.safe_load((REPO / "recipes" / name).read_text())
    data.setdefault("trainer", {}).update(PORTABLE)
    return data


def variants(rng: random.Random, values: list[Any] = NOT_A_VALUE) -> Iterator[tuple[str, str, bytes]]:
    """(id, base, YAML bytes) of every malformed variant: each leaf set to each of ``values``."""
    for base in BASES:
        data = base_recipe(base)
        for path, value in leaves(data):
            if path == ("extends",):
                continue
            where = ".".join(map(str, path))
            for bad in values:
                yield f"{base}:{where}={bad!r}", base, yaml.safe_dump(set_at(data, path, bad)).encode()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and path[-1] not in FREE_FORM:
                bad = rng.choice(BAD_NUMBERS)
                yield f"{base}:{where}={bad!r}", base, yaml.safe_dump(set_at(data, path, bad)).encode()
        for path in mappings(data):
            where = ".".join(map(str, path)) or "<root>"
            node = data
            for part in path:
                node = node[part]
            unknown = dict(node, bogus_key=1)
            yield f"{base}:{where}+bogus_key", base, yaml.safe_dump(set_at(data, path, unknown) if path else unknown).encode()
            if path:
                yield f"{base}:{where}=scalar", base, yaml.safe_dump(set_at(data, path, "oops")).encode()
    for name, text in HOSTILE.items():
        yield f"hostile:{name}", "", text


def all_variants(values: list[Any] = NOT_A_VALUE) -> list[tuple[str, str, bytes]]:
    return list(variants(random.Random(17), values))


def write_variant(tmp_path: Path, base: str, text: bytes) -> Path:
    for name in BASES:  # the bases a variant may extend
        (tmp_path / name).write_text((REPO / "recipes" / name).read_text())
    path = tmp_path / "variant.yaml"
    path.write_bytes(text)
    return path


def check_refused(path: Path, capsys, label: str, seconds: float = 10.0) -> None:
    start = time.perf_counter()
    code = main(["validate", str(path)])
    took = time.perf_counter() - start
    out = capsys.readouterr()
    err = out.err
    assert code == 2, f"{label}: exit {code}\n{out.out}{err}"
    assert err.startswith("error: ") and err.count("error: ") == 1, f"{label}: {err}"
    assert "Traceback" not in err, f"{label}: {err}"
    assert took < seconds, f"{label}: {took:.1f} s"


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.setenv("VLAKIT_DEBUG", "0")


@pytest.mark.parametrize("base", BASES)
def test_bases_are_valid(base: str, tmp_path: Path, capsys):
    path = write_variant(tmp_path, base, yaml.safe_dump(base_recipe(base)).encode())
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_fuzzed_recipes_are_refused_with_one_message(tmp_path: Path, capsys):
    """A few hundred variants in one test (one process, plugins loaded once)."""
    cases = all_variants()
    assert len(cases) >= 300
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for label, base, text in cases:
        check_refused(write_variant(tmp_path, base, text), capsys, label)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 500, f"validating the variants grew the process by {grown_mib:.0f} MiB"
    assert not (tmp_path / "MARKER").exists() and not Path("MARKER").exists()


@pytest.mark.parametrize("name", ["alias-bomb", "python-tag", "extends-dev-zero"])
def test_hostile_recipes_through_the_command(name: str, tmp_path: Path):
    path = write_variant(tmp_path, "", HOSTILE[name])
    proc = subprocess.run(
        [sys.executable, "-m", "vlakit", "validate", str(path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.slow
def test_many_more_fuzzed_recipes(tmp_path: Path, capsys):
    """Every leaf set to more kinds of nonsense (-inf, 65-bit numbers, nested lists): some five
    hundred variants more."""
    cases = [c for c in all_variants(MORE_NOT_A_VALUE) if c[1]]
    assert len(cases) >= 500
    for label, base, text in cases:
        if isinstance(yaml.safe_load(text), dict):
            check_refused(write_variant(tmp_path, base, text), capsys, label)
