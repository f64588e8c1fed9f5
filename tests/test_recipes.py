"""Recipe loading: extends, overrides, validation; every user error is one message and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vlakit.cli.main import main
from vlakit.errors import RecipeError
from vlakit.recipes import load_recipe

REPO = Path(__file__).resolve().parents[1]
SHIPPED = sorted((REPO / "recipes").glob("*.yaml"))

BASE = """\
name: base
model:
  vision: {type: timm, model: vit_tiny_patch16_224, img_size: 32, patch_size: 8}
  language: {type: hf}
  codec: {type: uniform-bins, bins: 256}
data:
  train:
    - {type: tabletop-demos, episodes: 4}
trainer: {max_steps: 5, batch_size: 2}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


#: shipped recipes that need what this machine may lack: a local checkpoint (always missing
#: here) and a GPU. Each must fail validation with exactly the messages naming what is missing,
#: and pass with those parts overridden (a model directory, the CPU).
NEEDS = {
    "llava-lora.yaml": "/models/llava-1.5-7b-hf",
    "llava-lora-so101.yaml": "/models/llava-1.5-7b-hf",
}
CPU = ["trainer.accelerator=cpu", "trainer.strategy=auto", "trainer.devices=1"]


@pytest.mark.parametrize("recipe", [r for r in SHIPPED if r.name not in NEEDS], ids=lambda p: p.name)
def test_shipped_recipes_validate(recipe: Path, capsys):
    code, out, err = run_cli(["validate", str(recipe)], capsys)
    assert code == 0, err
    assert "ok:" in out


def test_every_recipe_that_needs_more_is_shipped():
    assert set(NEEDS) <= {r.name for r in SHIPPED}


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_gpu_recipes_say_what_this_machine_lacks(name: str, tmp_path: Path, capsys):
    """Without the checkpoint (and a GPU) validation names exactly those; with a model
    directory and the CPU overridden it passes."""
    import torch

    recipe = REPO / "recipes" / name
    code, _, err = run_cli(["validate", str(recipe)], capsys)
    assert code == 2 and "Traceback" not in err
    problems = [line.split(": ", 1)[1] for line in err.splitlines()[1:]]
    wanted = [f"model.language.path: {NEEDS[name]} does not exist"]
    if not torch.cuda.is_available():
        wanted.append("trainer.accelerator: 'gpu' needs a CUDA GPU")
    assert len(problems) == len(wanted), err
    assert all(p.startswith(w) for p, w in zip(problems, wanted)), err
    model = tmp_path / "llava"
    model.mkdir()
    (model / "config.json").write_text("{}")
    code, out, err = run_cli(["validate", str(recipe), f"model.language.path={model}", *CPU], capsys)
    assert code == 0, err
    assert "ok:" in out


def test_extends_and_overrides(tmp_path: Path):
    write(tmp_path, "base.yaml", BASE)
    child = write(
        tmp_path,
        "child.yaml",
        "extends: base.yaml\nname: child\nmodel:\n  codec: {bins: 128}\ntrainer: {lr: 0.001}\n",
    )
    recipe = load_recipe(child, ["trainer.max_steps=7", "data.train.0.episodes=3"])
    assert recipe.name == "child"
    assert recipe.model.codec["bins"] == 128
    assert recipe.model.codec["type"] == "uniform-bins"
    assert recipe.trainer.lr == 0.001
    assert recipe.trainer.max_steps == 7
    assert recipe.trainer.batch_size == 2
    assert recipe.data.train[0]["episodes"] == 3


def test_changing_type_replaces_the_block(tmp_path: Path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nmodel:\n  codec: {type: quantile-bins}\n")
    recipe = load_recipe(child)
    assert recipe.model.codec["type"] == "quantile-bins"


def test_recipe_show_prints_resolved_recipe(tmp_path: Path, capsys):
    path = write(tmp_path, "r.yaml", BASE)
    code, out, err = run_cli(["recipe", "show", str(path), "trainer.max_steps=9", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["trainer"]["max_steps"] == 9
    assert data["model"]["codec"]["bins"] == 256
    assert "lr" in data["trainer"]  # defaults filled


def test_schema_lists_registered_components(tmp_path: Path, capsys):
    out_file = tmp_path / "schema.json"
    code, _, err = run_cli(["schema", "-o", str(out_file)], capsys)
    assert code == 0, err
    schema = json.loads(out_file.read_text())
    codecs = schema["$defs"]["ModelSection"]["properties"]["codec"]["oneOf"]
    names = {c["properties"]["type"]["const"] for c in codecs}
    assert {"uniform-bins", "quantile-bins"} <= names


ERRORS = {
    "invalid-yaml": ("model: [unclosed\n", [], "invalid YAML"),
    "unknown-type": (BASE.replace("uniform-bins", "uniform_bin"), [], "did you mean 'uniform-bins'?"),
    "unknown-key": (BASE.replace("bins: 256", "binz: 256"), [], "model.codec.binz: unknown key 'binz'; did you mean 'bins'?"),
    "wrong-type": (BASE.replace("bins: 256", "bins: many"), [], "model.codec.bins"),
    "wrong-core-type": (BASE, ["trainer.max_steps=lots"], "trainer.max_steps"),
    "missing-extends": ("extends: nowhere.yaml\n" + BASE, [], "base recipe not found"),
    "bad-override": (BASE, ["trainer.max_steps"], "bad override"),
    "bad-override-index": (BASE, ["data.train.5.weight=1"], "has no item 5"),
    "missing-section": ("name: x\ndata: {train: [{type: tabletop-demos}]}\n", [], "model: required key is missing"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_each_recipe_error_is_one_clear_message(case: str, tmp_path: Path, capsys):
    text, overrides, expected = ERRORS[case]
    path = write(tmp_path, "bad.yaml", text)
    code, out, err = run_cli(["validate", str(path), *overrides], capsys)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err
    assert err.startswith("error: ")


def test_error_names_file_and_line(tmp_path: Path):
    path = write(tmp_path, "bad.yaml", BASE.replace("bins: 256", "bins: many"))
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert f"{path.resolve()}:5: model.codec.bins" in str(info.value)
    assert "uniform-bins" in str(info.value)


def test_extends_cycle(tmp_path: Path, capsys):
    write(tmp_path, "a.yaml", "extends: b.yaml\n" + BASE)
    write(tmp_path, "b.yaml", "extends: a.yaml\nname: b\n")
    code, _, err = run_cli(["validate", str(tmp_path / "a.yaml")], capsys)
    assert code == 2 and "extends cycle" in err and "Traceback" not in err


def test_missing_recipe_file(tmp_path: Path, capsys):
    code, _, err = run_cli(["validate", str(tmp_path / "nope.yaml")], capsys)
    assert code == 2 and "recipe file not found" in err


def test_debug_shows_traceback(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("VLAKIT_DEBUG", "0")  # --debug sets it to 1; unset again afterwards
    path = write(tmp_path, "bad.yaml", "model: [unclosed\n")
    code, _, err = run_cli(["--debug", "validate", str(path)], capsys)
    assert code == 2 and "Traceback" in err


def test_validation_loads_no_weights(tmp_path: Path, capsys):
    """A model directory with a config but no weights passes validate: nothing is loaded."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    text = BASE.replace("{type: hf}", f"{{type: hf, path: {tmp_path / 'model'}}}")
    path = write(tmp_path, "r.yaml", text)
    assert load_recipe(path).model.language["path"] == str(tmp_path / "model")
    code, _, err = run_cli(["validate", str(path), "trainer.accelerator=cpu", "trainer.devices=1"], capsys)
    assert code == 0, err


def test_recipe_yaml_roundtrip(tmp_path: Path):
    recipe = load_recipe(write(tmp_path, "r.yaml", BASE))
    again = write(tmp_path, "again.yaml", yaml.safe_dump(recipe.to_dict()))
    assert load_recipe(again).to_dict() == recipe.to_dict()


def test_vlakit_validate_catches_mismatched_convnet_layers(tmp_path):
    """Caught when the recipe is validated (with the file named), not only when the model is built."""
    recipe = tmp_path / "bad.yaml"
    recipe.write_text((REPO / "recipes" / "tabletop-tiny.yaml").read_text().replace("strides: [2, 2, 2, 1]", "strides: [2, 2]"))
    with pytest.raises(RecipeError, match="one entry per layer") as err:
        load_recipe(recipe)
    assert "bad.yaml" in str(err.value)
