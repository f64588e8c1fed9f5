"""``vlakit validate``, ``vlakit recipe show``, ``vlakit recipe reference`` and ``vlakit schema``."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from vlakit.cli.main import cli
from vlakit.errors import RecipeError
from vlakit.io import atomic_write_text
from vlakit.plugins import get_registry
from vlakit.recipes import load_recipe, recipe_json_schema, recipe_reference
from vlakit.recipes.preflight import preflight_recipe


@cli.command("validate")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
def validate_command(recipe: Path, overrides: tuple[str, ...]) -> None:
    """Check RECIPE (with dotted OVERRIDES like trainer.max_steps=10) without loading weights.

    The preflight of `vlakit train`: the recipe's schema and every plugin's config, each plugin's
    own checks (model names, local paths, model configs), the sections against each other, and
    the trainer block against this machine (accelerator, devices, strategy, precision). Other
    documents that plugins register (for example robot profiles) are checked too, recognized by
    their top-level key.
    """
    from vlakit.recipes.documents import validate_document

    checked = validate_document(recipe, get_registry())
    if checked is not None:
        if overrides:
            raise RecipeError("overrides apply to recipes only")
        click.echo(f"ok: {recipe} is a valid {checked}")
        return
    resolved = preflight_recipe(recipe, overrides)
    click.echo(f"ok: {recipe} is a valid recipe ({resolved.name})")


@cli.group("recipe")
def recipe_group() -> None:
    """Inspect recipes."""


@recipe_group.command("show")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of YAML.")
def recipe_show(recipe: Path, overrides: tuple[str, ...], as_json: bool) -> None:
    """Print the fully resolved RECIPE: extends merged, overrides applied, defaults filled."""
    data = load_recipe(recipe, overrides).to_dict()
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)


@recipe_group.command("reference")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def recipe_reference_command(output: Path | None) -> None:
    """Write the recipe reference (Markdown): every section and every registered component's options."""
    text = recipe_reference(get_registry())
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}")


@cli.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file.")
def schema_command(output: Path | None) -> None:
    """Write the JSON Schema of recipes, with every registered component, for editors."""
    text = json.dumps(recipe_json_schema(get_registry()), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        atomic_write_text(output, text)
        click.echo(f"wrote {output}")
