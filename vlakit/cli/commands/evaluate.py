"""``vlakit eval``: score a bundle on a task environment and write the report."""

from __future__ import annotations

import time
from pathlib import Path

import click

from vlakit.cli.main import bundle_load_options, cli, decoding_option, device_option, robot_option


def default_out_dir(bundle: Path) -> Path:
    """``<bundle's folder>/eval-<date>-<time>`` (a new folder per evaluation)."""
    return bundle.resolve().parent / f"eval-{time.strftime('%Y%m%d-%H%M%S')}"


@cli.command("eval")
@click.argument("bundle", type=click.Path(path_type=Path))
@robot_option
@click.option(
    "--split", help="Task split: seen, unseen or all (every split the robot offers). Default: the recipe's."
)
@click.option("--episodes", type=click.IntRange(min=1), help="Episodes per split.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder (default: eval-<time> beside the bundle).",
)
@click.option("--seed", type=int, help="Seed of the first task (episode i uses seed + i).")
@click.option(
    "--max-steps", type=click.IntRange(min=1), help="Step budget per episode (default: the robot's)."
)
@click.option("--gifs", type=click.IntRange(min=0), help="Episodes saved as animated GIFs.")
@click.option(
    "--envs",
    "num_envs",
    type=click.IntRange(min=1),
    help="Environments run in lockstep (batch size; default 32).",
)
@device_option
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@decoding_option
@bundle_load_options
def eval_command(
    bundle: Path,
    robot: str | None,
    split: str | None,
    episodes: int | None,
    out_dir: Path | None,
    seed: int | None,
    max_steps: int | None,
    gifs: int | None,
    num_envs: int | None,
    device: str,
    progress: bool | None,
    decoding: str | None,
    base: Path | None,
    trusted_keys: tuple[Path, ...],
) -> None:
    """Evaluate BUNDLE: success rate per task family and split, with 95% confidence intervals.

    Settings default to the eval block of the recipe the bundle was trained from; options
    replace single values. Writes results.json, report.md, a plot and GIFs.
    """
    from vlakit.evaluation.run import evaluate_bundle
    from vlakit.io import check_creatable_dir
    from vlakit.runtime.robots import parse_robot_option

    if out_dir is not None:
        check_creatable_dir(out_dir, "--out")
    block = parse_robot_option(robot) if robot else None
    evaluate_bundle(
        bundle,
        None,
        out_dir or default_out_dir(bundle),
        robot_block=block,
        split=split,
        episodes=episodes,
        seed=seed,
        max_steps=max_steps,
        gifs=gifs,
        num_envs=num_envs,
        device=device,
        decoding=decoding,
        base=base,
        trusted_keys=trusted_keys,
        progress=progress,
        echo=click.echo,
    )
