"""The plugin guide's example (docs/plugins/index.md) works as written: installed as a real distribution."""

from __future__ import annotations

import re
from pathlib import Path

from vlakit.plugins import PluginLoader
from vlakit.recipes import load_recipe
from vlakit.testing import check_action_codec

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins" / "index.md"


def guide_block(marker: str) -> str:
    """The fenced code block of the plugin guide that starts with the comment ``marker``."""
    for block in re.findall(r"```(?:python|toml)\n(.*?)```", GUIDE.read_text(), flags=re.S):
        if block.startswith(marker):
            return block
    raise AssertionError(f"{GUIDE} has no code block starting with {marker!r}")


def test_guide_plugin_installs_registers_and_conforms(plugin_dist, tmp_path):
    source = guide_block("# vlakit_sign_codec/__init__.py")
    toml = guide_block("# pyproject.toml")
    entry = re.search(r"\[project.entry-points.vlakit\]\n(\w+) = \"(\w+)\"", toml)
    assert entry, "the guide's pyproject has no vlakit entry point"
    plugin_dist("vlakit-sign-codec", {"vlakit_sign_codec.__init__": source}, {entry[1]: entry[2]}, "0.1.0")
    registry = PluginLoader().load_entry_points()
    assert not registry.failures, registry.failures
    reg = registry.get("codec", "sign")
    assert (reg.dist, reg.version) == ("vlakit-sign-codec", "0.1.0")
    check_action_codec(reg.build({"dims": 3}), factory=lambda: reg.build({"dims": 3}))
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "name: r\nmodel:\n  vision: {type: timm}\n  language: {type: hf}\n  codec: {type: sign, dims: 3}\n"
        "data:\n  train: [{type: tabletop-demos}]\n"
    )
    assert load_recipe(recipe, registry=registry).model.codec == {"type": "sign", "dims": 3}
