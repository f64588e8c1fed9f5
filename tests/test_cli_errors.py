"""Bad options of `vlakit run` and `vlakit eval`: each gives one message and exit 2, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest_bundles import TINY_EVAL, TINY_RECIPE, export_tiny_bundle

import vlakit.cli.commands.evaluate  # noqa: F401  (registers `vlakit eval`)
import vlakit.cli.commands.run  # noqa: F401  (registers `vlakit run`)
from vlakit.cli.main import main

pytest.importorskip("vlakit_tabletop")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli-errors")
    export_tiny_bundle(tmp, TINY_RECIPE + TINY_EVAL, "bundle")
    (tmp / "badparam.yaml").write_text("type: tabletop\nimage_size: -3\n")
    (tmp / "badyaml.yaml").write_text("type: [\n")
    (tmp / "list.yaml").write_text("- 1\n- 2\n")
    (tmp / "latin.yaml").write_bytes(b"\xff\xfe type: tabletop\n")
    (tmp / "dir.yaml").mkdir()
    (tmp / "afile").write_text("x")
    return tmp


RUN = [
    ["/nonexistent/bundle"],
    ["{t}/afile"],
    ["{b}", "--robot", "{t}/none.yaml"],
    ["{b}", "--robot", "{t}/badyaml.yaml"],
    ["{b}", "--robot", "{t}/list.yaml"],
    ["{b}", "--robot", "{t}/badparam.yaml"],
    ["{b}", "--robot", "{t}/latin.yaml"],
    ["{b}", "--robot", "{t}/dir.yaml"],
    ["{b}", "--robot", "nosuch"],
    ["{b}", "--max-steps", "-1"],
    ["{b}", "--hz", "-1"],
    ["{b}", "--hz", "nan"],
    ["{b}", "--stall-timeout", "inf"],
    ["{b}", "--stall-timeout", "nan"],
    ["{b}", "--max-delta", "nan"],
    ["{b}", "--split", "bogus"],
    ["{b}", "--split", "all"],
    ["{b}", "--gif", "{t}/afile/x.gif"],
    ["{b}", "--device", "bogus"],
    ["{b}", "--device", "cuda:99"],
    ["{b}", "--decoding", "bogus"],
]
EVAL = [
    ["/nonexistent/bundle"],
    ["{b}", "--episodes", "0"],
    ["{b}", "--split", "bogus", "--out", "{t}/o"],
    ["{b}", "--out", "{t}/afile"],
    ["{b}", "--out", "{t}/afile/sub"],
    ["{b}", "--device", "bogus"],
    ["{b}", "--robot", "{t}/badparam.yaml", "--out", "{t}/o"],
    ["{b}", "--robot", "{t}/latin.yaml", "--out", "{t}/o"],
    ["{b}", "--max-steps", "0"],
    ["{b}", "--envs", "0"],
    ["{b}", "--gifs", "-1"],
]


@pytest.mark.parametrize(
    "argv", [["run", *a] for a in RUN] + [["eval", *a] for a in EVAL], ids=lambda a: " ".join(a)
)
def test_a_bad_option_is_one_message_and_exit_2(argv: list[str], files: Path, capsys) -> None:
    filled = [a.format(b=files / "bundle", t=files) for a in argv]
    assert main(filled) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "Traceback" not in err and err, captured
    lines = err.splitlines()
    assert any(line.startswith(("error: ", "Error: Invalid value")) for line in lines), err  # ours, or click's
    assert not (files / "o").exists() and (files / "afile").read_text() == "x"


def test_debug_in_one_call_does_not_leak_into_the_next(files: Path, capsys) -> None:
    assert main(["--debug", "run", "/nonexistent/bundle"]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert main(["run", "/nonexistent/bundle"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_plugin_choices_in_one_call_do_not_leak_into_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """``-p [no:]NAME`` holds for one command: called in-process, ``main`` puts the plugin
    variables back as it does ``--debug``'s."""
    from vlakit.plugins import reset_plugins
    from vlakit.plugins.manager import DISABLE_ENV, LOAD_ENV

    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.delenv(LOAD_ENV, raising=False)
    reset_plugins()
    try:
        assert main(["-p", "no:nothing-by-this-name", "-p", "codecs", "run", "/nonexistent/bundle"]) == 2
    finally:
        reset_plugins()
    assert DISABLE_ENV not in os.environ and LOAD_ENV not in os.environ
