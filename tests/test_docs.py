"""The README stays a short user's guide whose links and commands are real.

(The documentation site's own links are checked by ``mkdocs build --strict`` in CI.)
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
#: "a README of at most about 10 KB": longer material goes under docs/
README_LIMIT = 10_240


def shell_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_is_a_short_guide():
    size = len(README.read_bytes())
    assert size <= README_LIMIT, (
        f"README.md is {size} bytes (limit {README_LIMIT}): move the details to a page under docs/ "
        "and keep a one-line link"
    )


def test_readme_links_point_at_files_that_exist():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local, "README.md links nowhere into docs/"
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_readme_test_command_is_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    commands = shell_blocks(README.read_text())
    assert len(commands) >= 2, "README.md lost its two Quickstart commands"
    assert commands[1] in ci, "the README's test command is not a line of .ci/run"
    assert commands[0].endswith("vlakit train recipes/tabletop-tiny.yaml")
