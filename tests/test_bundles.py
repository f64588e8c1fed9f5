"""Bundles are confined, verified, self-contained and optionally signed (real tiny bundles on disk)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hostile import ShellPayload
from safetensors.torch import load_file, save_file
from test_training import TINY_LLAMA, TINY_VIT, make_recipe
from vlakit_hf.testing import tiny_gpt2_dir, tiny_llama_dir

from vlakit.cli.main import main
from vlakit.errors import BundleError
from vlakit.policy import Policy
from vlakit.policy.bundle import MANIFEST, sha256_file
from vlakit.train.run import train
from vlakit.types import Observation

OBS = Observation(images={"top": np.full((32, 32, 3), 90, np.uint8)})
TEXT = "pick up the red star"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """One tiny bundle (inline Llama, saved in full) for the whole module; tests work on copies."""
    tmp = tmp_path_factory.mktemp("trained")
    return train(make_recipe(tmp, TINY_LLAMA, trainer={"max_steps": 1}), progress=False).bundle


@pytest.fixture
def bundle(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "bundle"))


def manifest(bundle: Path) -> dict:
    return json.loads((bundle / MANIFEST).read_text())


def set_manifest(bundle: Path, files: dict) -> None:
    data = manifest(bundle)
    data["files"] = files
    (bundle / MANIFEST).write_text(json.dumps(data))


def rehash(bundle: Path, *names: str) -> None:
    """What an attacker without the signing key can do: update the hashes after an edit."""
    files = manifest(bundle)["files"]
    for name in names:
        files[name] = sha256_file(bundle / name)
    set_manifest(bundle, files)


def refused(bundle: Path, match: str, capsys, **kwargs) -> None:
    with pytest.raises(BundleError, match=match):
        Policy.load(bundle, **kwargs)
    capsys.readouterr()
    assert main(["bundle", "verify", str(bundle)]) == 2
    assert "Traceback" not in capsys.readouterr().err


# -- confinement ---------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", ["../../../../../etc/hostname", "/etc/hostname", "language/../../x", "./codec.json"])
def test_manifest_entries_outside_the_bundle_are_refused(bundle, entry, capsys):
    files = manifest(bundle)["files"]
    target = Path("/etc/hostname")
    files[entry] = sha256_file(target) if target.is_file() else "0" * 64
    set_manifest(bundle, files)
    refused(bundle, "points outside the bundle", capsys)


def test_symlinks_in_a_bundle_are_refused(bundle, tmp_path, capsys):
    outside = tmp_path / "outside.json"
    shutil.move(bundle / "codec.json", outside)
    (bundle / "codec.json").symlink_to(outside)  # same bytes, same hash: only the link differs
    refused(bundle, "codec.json is a symlink", capsys)
    (bundle / "codec.json").unlink()
    shutil.move(outside, bundle / "codec.json")
    shutil.move(bundle / "language", tmp_path / "language")
    (bundle / "language").symlink_to(tmp_path / "language")
    refused(bundle, "language is a symlink", capsys)


def test_files_not_in_the_manifest_are_refused(bundle, capsys):
    (bundle / "language" / "generation_config.json").write_text("{}")
    refused(bundle, "generation_config.json not listed", capsys)


# -- malformed files whose hashes were updated ------------------------------------------------------
def _truncate_header(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes((2**40).to_bytes(8, "little") + data[8:])


def _garble_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[8:12] = b"\xff\xfe{["
    path.write_bytes(bytes(data))


def _to_float64(path: Path) -> None:
    state = load_file(str(path))
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = state[name].double()
    save_file(state, str(path))


MALFORMED = {
    "bad-json": ("codec.json", lambda p: p.write_text("{not json"), "codec.json is not valid JSON"),
    "json-list": ("robot.json", lambda p: p.write_text("[1, 2]"), "robot.json: expected a JSON object"),
    "missing-key": ("robot.json", lambda p: p.write_text('{"cameras": ["top"]}'), "malformed bundle.*action_space"),
    "bad-codec": ("codec.json", lambda p: p.write_text('{"low": "x"}'), "malformed bundle"),
    "yaml-alias": ("recipe.yaml", lambda p: p.write_text("a: &x [1]\nb: *x\n"), "YAML aliases"),
    "bad-yaml": ("recipe.yaml", lambda p: p.write_text("name: [unclosed\n"), "recipe.yaml is not valid YAML"),
    "header-length": ("model.safetensors", _truncate_header, "header length .* exceeds the file"),
    "header-json": ("model.safetensors", _garble_header, "safetensors header is not valid JSON"),
    "dtype": ("model.safetensors", _to_float64, "other dtypes"),
    "language-dtype": ("language/model.safetensors", _to_float64, "another dtype"),
    "language-json": ("language/language.json", lambda p: p.write_text("{"), "language.json is not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_give_one_clear_error(bundle, case, capsys):
    name, damage, match = MALFORMED[case]
    damage(bundle / name)
    rehash(bundle, name)
    with pytest.raises(BundleError, match=match):
        Policy.load(bundle)
    assert main(["eval", str(bundle), "--robot", "tabletop", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if line.startswith("error: ")]) == 1 and "Traceback" not in err



def test_hostile_bundle_runs_nothing(bundle, tmp_path, capsys):
    """Pickles where weights belong (hashes in order): refused, and the payload never runs."""
    marker = tmp_path / "PWNED"
    weights = bundle / "language" / "model.safetensors"
    weights.write_bytes(pickle.dumps(ShellPayload(marker)))
    rehash(bundle, "language/model.safetensors")
    assert main(["eval", str(bundle), "--robot", "tabletop", "--episodes", "1"]) == 2
    assert "language/model.safetensors is not a safetensors file" in capsys.readouterr().err
    weights.unlink()  # a pickle under the name transformers falls back to
    torch.save({"x": ShellPayload(marker)}, bundle / "language" / "pytorch_model.bin")
    files = manifest(bundle)["files"]
    del files["language/model.safetensors"]
    files["language/pytorch_model.bin"] = sha256_file(bundle / "language" / "pytorch_model.bin")
    set_manifest(bundle, files)
    with pytest.raises(BundleError):
        Policy.load(bundle)
    assert not marker.exists()


# -- plugins and versions ------------------------------------------------------------------------
def test_a_missing_plugin_names_the_package_to_install(bundle, capsys):
    plugins = json.loads((bundle / "plugins.json").read_text())
    codec = plugins["codec"]
    assert plugins["language"]["dist"] and codec["type"] == "uniform-bins"
    plugins["codec"] = {"type": "my-codec", "kind": "codec", "dist": "vlakit-mycodec", "version": "1.2.0"}
    (bundle / "plugins.json").write_text(json.dumps(plugins))
    rehash(bundle, "plugins.json")
    refused(bundle, r"codec 'my-codec' from the distribution vlakit-mycodec 1\.2\.0.*pip install 'vlakit-mycodec==1\.2\.0'", capsys)
    plugins["codec"] = {**codec, "version": "0.99.0"}
    (bundle / "plugins.json").write_text(json.dumps(plugins))
    rehash(bundle, "plugins.json")
    refused(bundle, r"needs \S+ 0\.99\.0 \(for codec 'uniform-bins'\); installed is", capsys)


# -- self-contained bundles ----------------------------------------------------------------------
def _train_on_base(tmp_path: Path, export: str) -> tuple[Path, Path]:
    base = tiny_llama_dir(tmp_path / "models")
    language = {"type": "hf", "path": str(base), "lora": {"r": 4, "alpha": 8}, "export": export}
    result = train(make_recipe(tmp_path, language, trainer={"max_steps": 1}), progress=False)
    return result.bundle, base


def test_merged_bundle_loads_without_its_base(tmp_path):
    bundle, base = _train_on_base(tmp_path, "merged")
    before = Policy.load(bundle).act(OBS, TEXT)
    shutil.rmtree(base)
    np.testing.assert_array_equal(Policy.load(bundle).act(OBS, TEXT), before)


def test_bundle_loads_without_the_pretrained_vision_file(tmp_path):
    from vlakit.plugins import get_registry

    backbone = get_registry().build("vision", TINY_VIT)
    weights = tmp_path / "vit.safetensors"
    save_file({k: v.contiguous() for k, v in backbone.model.state_dict().items()}, str(weights))
    vision = {**TINY_VIT, "pretrained_path": str(weights)}
    bundle = train(make_recipe(tmp_path, TINY_LLAMA, vision=vision, trainer={"max_steps": 1}), progress=False).bundle
    before = Policy.load(bundle).act(OBS, TEXT)
    weights.unlink()
    np.testing.assert_array_equal(Policy.load(bundle).act(OBS, TEXT), before)


def test_adapter_bundle_needs_the_base_it_was_trained_on(tmp_path, capsys):
    bundle, base = _train_on_base(tmp_path, "adapters")
    before = Policy.load(bundle).act(OBS, TEXT)
    moved = tmp_path / "elsewhere"
    base.rename(moved)
    with pytest.raises(BundleError, match="needs its base model.*--base PATH"):
        Policy.load(bundle)
    np.testing.assert_array_equal(Policy.load(bundle, base=moved).act(OBS, TEXT), before)
    args = ["eval", str(bundle), "--robot", "tabletop", "--episodes", "1", "--out", str(tmp_path / "ev")]
    assert main([*args, "--base", str(moved)]) == 0
    impostor = tiny_gpt2_dir(tmp_path / "other")
    capsys.readouterr()
    assert main([*args, "--base", str(impostor)]) == 2
    assert "is not the one these adapters were trained on" in capsys.readouterr().err
    tiny_llama_dir(tmp_path / "models", seed=1)  # a different model saved where the base was
    with pytest.raises(BundleError, match="not the one these adapters were trained on"):
        Policy.load(bundle)


# -- signatures ------------------------------------------------------------------------------------
def test_signed_bundle_loads_only_with_its_key_and_tampering_is_caught(bundle, tmp_path, capsys):
    pytest.importorskip("cryptography")
    key, other = tmp_path / "keys" / "release", tmp_path / "keys" / "other"
    assert main(["bundle", "keygen", str(key)]) == 0
    assert main(["bundle", "keygen", str(other)]) == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    pub = key.with_name("release.pub")
    with pytest.raises(BundleError, match="is not signed"):
        Policy.load(bundle, trusted_keys=[pub])
    assert main(["bundle", "sign", str(bundle), "--key", str(key)]) == 0
    assert Policy.load(bundle, trusted_keys=[pub]).act(OBS, TEXT).shape == (4,)
    assert Policy.load(bundle, trusted_keys=str(pub)).act(OBS, TEXT).shape == (4,)  # one key as a string
    assert main(["bundle", "verify", str(bundle), "--require-signature", str(pub)]) == 0
    assert "signed by trusted key" in capsys.readouterr().out
    with pytest.raises(BundleError, match="does not verify with the trusted key"):
        Policy.load(bundle, trusted_keys=[other.with_name("other.pub")])
    with pytest.raises(BundleError, match="is a private key"):
        Policy.load(bundle, trusted_keys=[key])
    # tampering after signing: a changed file with its hash updated breaks the signature
    recipe = yaml.safe_load((bundle / "recipe.yaml").read_text())
    recipe["model"]["decoding"] = "expectation"
    (bundle / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    rehash(bundle, "recipe.yaml")
    Policy.load(bundle)  # without a key, the updated hashes pass: only the signature catches this
    with pytest.raises(BundleError, match="manifest was changed after signing"):
        Policy.load(bundle, trusted_keys=[pub])
    args = ["run", str(bundle), "--robot", "tabletop", "--max-steps", "1", "--require-signature", str(pub)]
    assert main(args) == 2
    assert "does not verify" in capsys.readouterr().err


def test_a_recipe_with_repeated_values_is_written_without_aliases(tmp_path):
    """Loading refuses YAML aliases, so export must never write them (shared objects included)."""
    from vlakit.policy.bundle import write_bundle

    shared = ["top", "wrist"]
    recipe = {"name": "x", "a": shared, "b": shared}
    out = write_bundle(tmp_path / "b", lambda folder: None, recipe, {}, {}, {}, {})
    text = (out / "recipe.yaml").read_text()
    assert "&" not in text and "*" not in text and yaml.safe_load(text) == recipe


def test_a_bundle_folder_gets_the_users_umask(tmp_path):
    from vlakit.policy.bundle import write_bundle

    old = os.umask(0o022)
    try:
        out = write_bundle(tmp_path / "b", lambda folder: None, {"name": "x"}, {}, {}, {}, {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
