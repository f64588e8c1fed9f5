"""The core (``vlakit/``) names no simulator, no robot and no tabletop idea: those live in plugins.

The one exception is :mod:`vlakit.plugins.catalog`, the table of first-party distributions that
lets a recipe naming a missing component say which package to install.
"""

from __future__ import annotations

import re
from pathlib import Path

import vlakit

CORE = Path(vlakit.__file__).parent
EXEMPT = {CORE / "plugins" / "catalog.py"}

#: words of the tabletop simulator and its plugins (issue 18's list), as whole words, any case
TABLETOP_WORDS = re.compile(
    r"\b(tabletop|aims?|relate[ds]?|relate_\w+|instruction[ _-]?encoder|object_classes|confusers?|detours?)\b"
    r"|\b(aim|keypoint-map|related)-point\b|['\"]anchor['\"]",
    re.IGNORECASE,
)


def core_files() -> list[Path]:
    return sorted(p for p in CORE.rglob("*") if p.is_file() and p.suffix in (".py", ".md", ".yaml", ".txt", ".json"))


def test_the_core_names_nothing_of_the_tabletop_simulator() -> None:
    found = []
    for path in core_files():
        if path in EXEMPT:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if TABLETOP_WORDS.search(line):
                found.append(f"{path.relative_to(CORE.parent)}:{number}: {line.strip()}")
    assert not found, "tabletop words in the core:\n" + "\n".join(found)


def test_the_pattern_finds_what_it_is_for() -> None:
    """The check above cannot pass by matching nothing."""
    for line in ('help="Robot type (e.g. tabletop)"', "targets['anchor']", "an InstructionEncoder", "relate_query: int"):
        assert TABLETOP_WORDS.search(line), line
    for line in ("bbox_to_anchor=(0.5, -0.22)", "def component_anchor(kind, name)", "the gripper's level"):
        assert not TABLETOP_WORDS.search(line), line


def commands_named_in_help() -> set[str]:
    """Every ```vlakit ...``` command quoted in a help text of the CLI (commands and options)."""
    from vlakit.cli.main import build_cli

    named: set[str] = set()

    def walk(command) -> None:
        texts = [command.help or ""] + [getattr(p, "help", None) or "" for p in command.params]
        for text in texts:
            named.update(" ".join(m.split()) for m in re.findall(r"`(vlakit [^`]+)`", text))
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(build_cli())
    return named


def test_the_listings_the_help_points_to_list_that_kind(capsys) -> None:
    """Where the help says which command lists the robot or dataset types instead of naming one,
    that command lists them (``vlakit plugins robot`` would glob-match names, and list none)."""
    from vlakit.cli.main import main

    pointed = {line for line in commands_named_in_help() if line.startswith("vlakit plugins")}
    assert pointed == {"vlakit plugins --kind robot", "vlakit plugins --kind dataset"}
    for line, installed in (("vlakit plugins --kind robot", "tabletop"), ("vlakit plugins --kind dataset", "lerobot")):
        assert main(line.split()[1:]) == 0
        listing = capsys.readouterr().out
        assert re.search(rf"^\s+{installed}\s", listing, re.MULTILINE), listing
