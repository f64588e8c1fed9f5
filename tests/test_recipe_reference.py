"""The recipe reference page is generated from the models, and the committed page is current."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from vlakit.plugins import PluginLoader
from vlakit.recipes import recipe_reference
from vlakit.recipes.reference import SLOTS
from vlakit.recipes.schema import TrainerSection

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "recipe.md"
REGENERATE = "vlakit recipe reference -o docs/reference/recipe.md"

PLUGIN = """
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from vlakit import ComponentConfig, hookimpl

class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(4, ge=1, description="frames in the window")

class BlurConfig(ComponentConfig):
    sigma: float = Field(1.5, gt=0, le=10, description="blur width | pixels")
    mode: Literal["box", "gauss"] = "gauss"
    window: Window | None = None

@hookimpl
def register_datasets(register):
    register("blurry-frames", lambda c: c, config=BlurConfig, description="frames, blurred")
"""


def fresh_registry():
    """Every installed plugin, whatever the environment says about choosing plugins."""
    return PluginLoader(strict=False, builtins_only=False, disabled=set(), selected=None).load_entry_points()


def test_committed_reference_is_what_the_generator_writes():
    registry = fresh_registry()
    assert not registry.failures, registry.failures
    assert PAGE.read_text() == recipe_reference(registry), f"{PAGE} is out of date: run `{REGENERATE}`"


def test_every_section_field_and_component_is_documented():
    registry = fresh_registry()
    page = recipe_reference(registry)
    for key in TrainerSection.model_fields:
        assert re.search(rf"^\| `{key}` \|", page, flags=re.M), key
    recipe_components = [reg for reg in registry.list() if reg.kind in SLOTS]
    assert {reg.kind for reg in recipe_components} >= {"vision", "language", "codec", "dataset", "robot"}
    for reg in recipe_components:
        assert f"### `{reg.name}` {{#{reg.kind}-" in page
        for key in reg.config.model_fields:
            assert f"| `{key}` |" in page, (reg.name, key)


def test_every_link_on_the_page_has_its_heading():
    page = recipe_reference(fresh_registry())
    ids = set(re.findall(r"\{#([a-z0-9-]+)\}", page))
    links = set(re.findall(r"\]\(#([a-z0-9-]+)\)", page))
    assert links and links <= ids, links - ids


def test_cli_writes_a_third_party_plugins_options(plugin_dist, tmp_path):
    root = plugin_dist("vlakit-blur", {"vlakit_blur.plugin": PLUGIN}, {"blur": "vlakit_blur.plugin"}, "0.2.0")
    out_file = tmp_path / "ref.md"
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = subprocess.run(
        [sys.executable, "-m", "vlakit", "recipe", "reference", "-o", str(out_file)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    page = out_file.read_text()
    section = page.split("### `blurry-frames` {#dataset-blurry-frames}")[1].split("\n### ")[0]
    assert "Frames, blurred." in section and "distribution `vlakit-blur`" in section
    assert "| `sigma` | float | `1.5` | blur width \\| pixels (> 0 and <= 10) |" in section
    assert "| `mode` | one of `box`, `gauss` | `\"gauss\"` |" in section
    assert "| `window` | [Window](#dataset-blurry-frames-window) or null | `null` |" in section
    assert "#### `window` {#dataset-blurry-frames-window}" in section
    assert "| `size` | int | `4` | frames in the window (>= 1) |" in section
    assert "[`blurry-frames`](#dataset-blurry-frames)" in page
