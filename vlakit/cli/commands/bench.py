"""``vlakit bench``: measured figures for codecs and compositions (plugins may add more)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vlakit.cli.main import cli


@cli.group("bench")
def bench_group() -> None:
    """Benchmarks that print their figures (run on demand; quoted in docs/benchmarks.md)."""


@bench_group.command("codec")
@click.option("--actions", "n_actions", default=1_000_000, show_default=True, help="Actions to encode and decode.")
@click.option("--dim", default=7, show_default=True, help="Action dimensions.")
@click.option("--codec", "names", multiple=True, help="Only these codecs (default: all registered).")
def bench_codec(n_actions: int, dim: int, names: tuple[str, ...]) -> None:
    """Encode+decode throughput of the action codecs on one core, against a per-action Python loop."""
    from vlakit.bench.codec import bench_codecs, format_table

    click.echo(format_table(bench_codecs(n_actions=n_actions, dim=dim, names=list(names) or None)))


@bench_group.command("recipe")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option("--steps", default=20, show_default=True, help="Timed training steps per round (two rounds).")
@click.option("--act-calls", default=50, show_default=True, help="Timed policy.act calls.")
@click.option("--threads", type=int, help="torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_recipe_command(
    recipe: Path, overrides: tuple[str, ...], steps: int, act_calls: int, threads: int | None, as_json: bool
) -> None:
    """Parameters, training samples/s (vs a plain PyTorch loop), act latency (vs bare model work
    and transformers generate), peak memory of RECIPE's composition."""
    from vlakit.bench.recipe import bench_recipe, format_result

    result = bench_recipe(recipe, overrides, steps=steps, act_calls=act_calls, threads=threads)
    click.echo(json.dumps(result, indent=2) if as_json else format_result(result))
