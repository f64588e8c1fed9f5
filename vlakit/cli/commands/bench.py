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


@bench_group.command("serve")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--calls", default=200, show_default=True, help="Timed calls for each latency figure.")
@click.option("--image-size", default=64, show_default=True, help="Side of the square test image per camera, pixels.")
@click.option("--clients", default="1,4,16", show_default=True, help="Concurrent clients of each throughput row.")
@click.option("--seconds", default=3.0, show_default=True, help="Duration of each throughput row.")
@click.option("--batch-size", default=16, show_default=True, help="The server's --batch-size.")
@click.option("--max-wait-ms", default=2.0, show_default=True, help="The server's --max-wait-ms.")
@click.option("--device", default="cpu", show_default=True, help="Torch device of the policy.")
@click.option("--threads", type=int, help="torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def bench_serve_command(
    bundle: Path,
    calls: int,
    image_size: int,
    clients: str,
    seconds: float,
    batch_size: int,
    max_wait_ms: float,
    device: str,
    threads: int | None,
    as_json: bool,
) -> None:
    """Latency a served BUNDLE adds over in-process Policy.act (p50/p99) and throughput with
    1, 4 and 16 concurrent clients (loopback, this machine)."""
    from vlakit.bench.serve import bench_serve, format_result

    try:
        counts = tuple(int(n) for n in clients.split(","))
    except ValueError:
        raise click.BadParameter(f"a comma-separated list of client counts, got {clients!r}", param_hint="--clients") from None
    result = bench_serve(
        bundle,
        calls=calls,
        image_size=image_size,
        clients=counts,
        seconds=seconds,
        batch_size=batch_size,
        max_wait_ms=max_wait_ms,
        device=device,
        threads=threads,
    )
    click.echo(json.dumps(result, indent=2) if as_json else format_result(result))
