"""``vlakit dataset``: dataset tools. ``export`` is generic; format plugins add their own commands
(``info``, ``convert``, ...) to this group through ``register_commands``."""

from __future__ import annotations

from pathlib import Path

import click

from vlakit.cli.main import cli


@cli.group("dataset")
def dataset_group() -> None:
    """Inspect, convert and export datasets."""


@dataset_group.command("export")
@click.argument("type_name", metavar="TYPE")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--episodes", type=click.IntRange(min=1), help="Export only the first N episodes (default: all)."
)
@click.option(
    "--set",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter of the TYPE dataset (repeatable).",
)
@click.option(
    "--format",
    "fmt",
    metavar="DATASET",
    help="Format to write: a dataset plugin that can write. Default: the only one installed.",
)
@click.option(
    "--fps",
    type=click.FloatRange(min=0, min_open=True),
    help="Frames per second (default: the dataset's, else 10).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=Path(".cache/vlakit"),
    show_default=True,
    help="Where TYPE caches generated data.",
)
def export_command(
    type_name: str,
    out: Path,
    episodes: int | None,
    params: tuple[str, ...],
    fmt: str | None,
    fps: float | None,
    cache_dir: Path,
) -> None:
    """Write the episodes of the registered dataset TYPE into OUT, in a dataset format a plugin writes
    (`vlakit plugins --kind dataset` lists the types; `--set KEY=VALUE` sets the dataset's parameters)."""
    from vlakit.data.recording import dataset_spec, export_episodes, open_recording
    from vlakit.plugins import get_registry
    from vlakit.recipes.overrides import apply_override

    registry = get_registry()
    block: dict[str, object] = {"type": type_name}
    for pair in params:
        apply_override(block, pair)
    dataset = registry.build("dataset", block)
    dataset.prepare(cache_dir)
    spec = dataset_spec(dataset, fps, robot_type=None)
    with open_recording(registry, out, spec, fmt) as writer:
        n = export_episodes(dataset, writer, episodes)
    click.echo(f"wrote {n} episodes of {type_name} into {out}")
