"""Plugin discovery through real installed distributions, and isolation of broken plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vlakit
from vlakit.errors import PluginError, UnknownComponentError
from vlakit.plugins import PluginLoader, Registration, Registry
from vlakit.plugins.registry import ComponentConfig

REPO = Path(__file__).resolve().parents[1]

GOOD = """
from vlakit import ComponentConfig, hookimpl

class EchoConfig(ComponentConfig):
    scale: float = 1.0

class Echo:
    def __init__(self, config):
        self.config = config

@hookimpl
def register_action_codecs(register):
    register("echo-codec", Echo, config=EchoConfig, description="test codec")

@hookimpl
def register_commands(cli):
    import click

    @cli.command("echo-hello")
    def hello():
        click.echo("hello from a plugin")
"""


def test_entry_point_from_installed_distribution(plugin_dist):
    plugin_dist("vlakit-echo", {"vlakit_echo.plugin": GOOD}, {"echo": "vlakit_echo.plugin"}, "2.3.4")
    loader = PluginLoader()
    registry = loader.load_entry_points()
    reg = registry.get("codec", "echo-codec")
    assert (reg.dist, reg.version, reg.plugin) == ("vlakit-echo", "2.3.4", "echo")
    built = reg.build({"scale": 2})
    assert built.config.scale == 2.0
    assert any(p.dist == "vlakit-echo" and not p.builtin for p in registry.plugins)
    assert not registry.failures


def test_cli_lists_plugin_and_runs_its_command(plugin_dist, tmp_path):
    root = plugin_dist("vlakit-echo", {"vlakit_echo.plugin": GOOD}, {"echo": "vlakit_echo.plugin"})
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-m", "vlakit", "plugins", "--json"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    comps = json.loads(out.stdout)["components"]
    assert {"kind": "codec", "name": "echo-codec"}.items() <= next(
        c for c in comps if c["name"] == "echo-codec"
    ).items()
    assert next(c for c in comps if c["name"] == "echo-codec")["distribution"] == "vlakit-echo"
    out = subprocess.run(
        [sys.executable, "-m", "vlakit", "echo-hello"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and "hello from a plugin" in out.stdout


BROKEN_IMPORT = "import does_not_exist_anywhere\n"

BAD_NAME = """
from vlakit import ComponentConfig, hookimpl

class C(ComponentConfig):
    pass

@hookimpl
def register_action_codecs(register):
    register("Bad Name!", lambda c: None, config=C)
"""

LOOSE_CONFIG = """
from pydantic import BaseModel
from vlakit import hookimpl

class C(BaseModel):
    x: int = 1

@hookimpl
def register_datasets(register):
    register("loose", lambda c: None, config=C)
"""

MISSPELLED_HOOK = """
from vlakit import hookimpl

@hookimpl
def register_action_codec(register):
    pass
"""

DUPLICATE = GOOD.split("@hookimpl\ndef register_commands")[0]


def _install_broken(plugin_dist):
    plugin_dist("vlakit-echo", {"vlakit_echo.plugin": GOOD}, {"echo": "vlakit_echo.plugin"})
    plugin_dist("vlakit-broken", {"vlakit_broken.plugin": BROKEN_IMPORT}, {"broken": "vlakit_broken.plugin"})
    plugin_dist("vlakit-badname", {"vlakit_badname.plugin": BAD_NAME}, {"badname": "vlakit_badname.plugin"})
    plugin_dist("vlakit-loose", {"vlakit_loose.plugin": LOOSE_CONFIG}, {"loose": "vlakit_loose.plugin"})
    plugin_dist("vlakit-typo", {"vlakit_typo.plugin": MISSPELLED_HOOK}, {"typo": "vlakit_typo.plugin"})
    plugin_dist("vlakit-zdup", {"vlakit_zdup.plugin": DUPLICATE}, {"zdup": "vlakit_zdup.plugin"})


def test_broken_plugins_are_recorded_and_isolated(plugin_dist):
    _install_broken(plugin_dist)
    registry = PluginLoader().load_entry_points()
    failures = {f.dist: f.error for f in registry.failures}
    assert "ModuleNotFoundError" in failures["vlakit-broken"]
    assert "'Bad Name!'" in failures["vlakit-badname"]
    assert "unknown keys" in failures["vlakit-loose"]
    assert "register_action_codec" in failures["vlakit-typo"]
    dup = failures["vlakit-zdup"]
    assert "registered twice" in dup and "vlakit-echo" in dup and "vlakit-zdup" in dup
    # everything else keeps working
    assert registry.get("codec", "echo-codec").dist == "vlakit-echo"
    assert "loose" not in registry.names("dataset")


def test_strict_mode_makes_failures_fatal(plugin_dist, monkeypatch):
    plugin_dist("vlakit-broken", {"vlakit_broken.plugin": BROKEN_IMPORT}, {"broken": "vlakit_broken.plugin"})
    monkeypatch.setenv("VLAKIT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="vlakit-broken"):
        PluginLoader().load_entry_points()


def test_strict_mode_cli_exit_status(plugin_dist, tmp_path):
    root = plugin_dist("vlakit-broken", {"vlakit_broken.plugin": BROKEN_IMPORT}, {"broken": "vlakit_broken.plugin"})
    env = {**os.environ, "PYTHONPATH": str(root), "VLAKIT_STRICT_PLUGINS": "1"}
    out = subprocess.run([sys.executable, "-m", "vlakit", "plugins"], env=env, capture_output=True, text=True)
    assert out.returncode == 2
    assert "vlakit-broken" in out.stderr and "Traceback" not in out.stderr
    env.pop("VLAKIT_STRICT_PLUGINS")
    out = subprocess.run([sys.executable, "-m", "vlakit", "plugins"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "failed to load" in out.stdout and "vlakit-broken" in out.stdout


def test_builtins_only_skips_third_party(plugin_dist, monkeypatch):
    plugin_dist("vlakit-echo", {"vlakit_echo.plugin": GOOD}, {"echo": "vlakit_echo.plugin"})
    monkeypatch.setenv("VLAKIT_BUILTINS_ONLY", "1")
    registry = PluginLoader().load_entry_points()
    assert "echo-codec" not in registry.names("codec")
    assert all(p.builtin for p in registry.plugins)
    assert {p.name for p in registry.plugins} >= {"codecs", "tabletop"}


def test_plugins_are_disabled_or_selected_by_name(plugin_dist, monkeypatch):
    plugin_dist("vlakit-echo", {"vlakit_echo.plugin": GOOD}, {"echo": "vlakit_echo.plugin"})
    monkeypatch.setenv("VLAKIT_DISABLE_PLUGINS", "echo, timm")
    loader = PluginLoader()
    registry = loader.load_entry_points()
    assert "echo-codec" not in registry.names("codec") and "timm" not in registry.names("vision")
    assert {("echo", "vlakit-echo"), ("timm", "vlakit-timm")} <= set(loader.skipped)
    monkeypatch.delenv("VLAKIT_DISABLE_PLUGINS")
    monkeypatch.setenv("VLAKIT_LOAD_PLUGINS", "vlakit-echo,codecs")  # a distribution or a plugin name
    registry = PluginLoader().load_entry_points()
    assert {p.name for p in registry.plugins} == {"echo", "codecs"}
    monkeypatch.setenv("VLAKIT_LOAD_PLUGINS", "")
    assert PluginLoader().load_entry_points().plugins == []


def test_cli_plugin_option_chooses_before_plugin_commands_load(plugin_dist):
    root = plugin_dist("vlakit-echo", {"vlakit_echo.plugin": GOOD}, {"echo": "vlakit_echo.plugin"})
    env = {**os.environ, "PYTHONPATH": str(root)}

    def vlakit(*args):
        return subprocess.run([sys.executable, "-m", "vlakit", *args], env=env, capture_output=True, text=True)

    out = vlakit("-p", "no:echo", "plugins", "--json")
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert "echo-codec" not in {c["name"] for c in listed["components"]}
    assert {"plugin": "echo", "distribution": "vlakit-echo"} in listed["skipped"]
    assert vlakit("-p", "no:echo", "echo-hello").returncode == 2  # its command is gone too
    out = vlakit("-p", "echo", "-p", "codecs", "plugins", "--json")
    assert {p["name"] for p in json.loads(out.stdout)["plugins"]} == {"echo", "codecs"}
    assert "hello from a plugin" in vlakit("--plugin=echo", "echo-hello").stdout


def test_plugin_api_version_is_checked(plugin_dist, monkeypatch):
    future = "VLAKIT_PLUGIN_API = 99\n" + GOOD
    plugin_dist("vlakit-future", {"vlakit_future.plugin": future}, {"future": "vlakit_future.plugin"}, "9.0")
    registry = PluginLoader().load_entry_points()
    failure = next(f for f in registry.failures if f.dist == "vlakit-future")
    assert "plugin API 99" in failure.error and "API 1" in failure.error
    assert "echo-codec" not in registry.names("codec")
    # every first-party plugin declares the API it implements
    assert all(p.api == vlakit.PLUGIN_API for p in registry.plugins if p.builtin)


def test_undeclared_api_loads_but_strict_mode_refuses_it(plugin_dist, monkeypatch):
    plugin_dist("vlakit-echo", {"vlakit_echo.plugin": GOOD}, {"echo": "vlakit_echo.plugin"})
    registry = PluginLoader().load_entry_points()
    assert next(p for p in registry.plugins if p.name == "echo").api is None
    monkeypatch.setenv("VLAKIT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="declares no plugin API"):
        PluginLoader().load_entry_points()


class _Cfg(ComponentConfig):
    pass


def test_lookup_miss_suggests_the_intended_name():
    registry = Registry()
    registry.add(Registration("codec", "uniform-bins", lambda c: c, _Cfg, dist="vlakit"))
    registry.add(Registration("codec", "quantile-bins", lambda c: c, _Cfg, dist="vlakit"))
    with pytest.raises(UnknownComponentError) as info:
        registry.get("codec", "uniform_bin")
    msg = str(info.value)
    assert "unknown action codec 'uniform_bin'" in msg
    assert "did you mean 'uniform-bins'?" in msg
    assert "quantile-bins" in msg


def test_glob_filter():
    registry = Registry()
    for name in ("uniform-bins", "quantile-bins", "fast"):
        registry.add(Registration("codec", name, lambda c: c, _Cfg, dist="vlakit"))
    assert [r.name for r in registry.list("codec", "*-bins")] == ["quantile-bins", "uniform-bins"]


def test_a_dataset_declares_the_writer_of_its_format():
    def make_writer(root, spec):
        return (root, spec)

    registry = Registry()
    registry.add(Registration("dataset", "plain", lambda c: c, _Cfg, dist="x"))
    with pytest.raises(UnknownComponentError, match="no installed dataset plugin can write one"):
        registry.writer()
    registry.add(Registration("dataset", "fmt-a", lambda c: c, _Cfg, dist="x", writer=make_writer))
    assert registry.writer().name == "fmt-a"  # the only one: the default
    assert registry.writer("fmt-a").writer is make_writer
    with pytest.raises(UnknownComponentError, match="'plain' cannot be written; formats that can: fmt-a"):
        registry.writer("plain")
    registry.add(Registration("dataset", "fmt-b", lambda c: c, _Cfg, dist="x", writer=make_writer))
    with pytest.raises(UnknownComponentError, match="name the dataset format to write \\(fmt-a, fmt-b\\)"):
        registry.writer()
    with pytest.raises(PluginError, match="only datasets take one"):
        registry.add(Registration("codec", "c", lambda c: c, _Cfg, dist="x", writer=make_writer))


def test_the_catalogue_of_first_party_distributions_matches_what_they_register():
    """vlakit.plugins.catalog names the distribution to install for a missing component; with
    every first-party plugin installed it must agree with the registry, kind by kind."""
    from vlakit.plugins.catalog import FIRST_PARTY

    registry = PluginLoader().load_entry_points()
    registered: dict[str, dict[str, set[str]]] = {}
    for kind in registry.components:
        for reg in registry.list(kind):
            if reg.dist in FIRST_PARTY:
                registered.setdefault(reg.dist, {}).setdefault(kind, set()).add(reg.name)
    expected = {dist: {k: set(names) for k, names in kinds.items()} for dist, kinds in FIRST_PARTY.items()}
    assert registered == expected
    assert all(p.builtin for p in registry.plugins if p.dist in FIRST_PARTY)


def test_a_recipe_whose_plugins_are_not_installed_names_the_distributions(tmp_path):
    """As in a core-only install: no plugin loads, and validate says what to pip install."""
    env = {**os.environ, "VLAKIT_LOAD_PLUGINS": ""}
    out = subprocess.run(
        [sys.executable, "-m", "vlakit", "validate", str(REPO / "recipes" / "tabletop-tiny.yaml")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "model.vision.type: vision backbone 'convnet' comes with vlakit-convnet" in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("not installed: vlakit-codecs vlakit-convnet vlakit-hf vlakit-tabletop;")
    assert "pip install vlakit-codecs vlakit-convnet vlakit-hf vlakit-tabletop" in last
