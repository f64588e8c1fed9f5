"""``vlakit train`` and ``vlakit export``."""

from __future__ import annotations

from pathlib import Path

import click

from vlakit.cli.main import cli


@cli.command("train")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", nargs=-1)
@click.option("--resume", type=click.Path(dir_okay=False, path_type=Path), help="Continue from a checkpoint.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), help="Run directory (default runs/<name>/<time>).")
@click.option("--no-eval", is_flag=True, help="Skip the evaluation of the recipe's eval block.")
def train_command(recipe: Path, overrides: tuple[str, ...], resume: Path | None, run_dir: Path | None, no_eval: bool) -> None:
    """Train RECIPE (with dotted OVERRIDES), export the bundle, then evaluate it if the recipe says how."""
    from vlakit.train.run import train

    result = train(recipe, overrides, resume=resume, run_dir=run_dir)
    if result.bundle is None:
        return
    if result.rate is not None:
        click.echo(result.rate.line())
    click.echo(f"trained in {result.seconds:.0f} s in all; bundle: {result.bundle}")
    if result.recipe.eval is not None and not no_eval:
        from vlakit.evaluation.run import evaluate_bundle, scores_tasks

        if not scores_tasks(result.recipe.eval):
            click.echo(
                f"no evaluation: robot {result.recipe.eval.robot.get('type')!r} sets up no tasks to score; "
                f"run the bundle on it: vlakit run {result.bundle} -i INSTRUCTION"
            )
            return
        evaluate_bundle(result.bundle, result.recipe.eval, out_dir=result.run_dir / "eval")


@cli.command("export")
@click.argument("checkpoint", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("output", type=click.Path(file_okay=False, path_type=Path))
def export_command(checkpoint: Path, output: Path) -> None:
    """Re-export a training CHECKPOINT as a bundle in OUTPUT."""
    from vlakit.train.run import export_checkpoint

    path = export_checkpoint(checkpoint, output)
    click.echo(f"bundle: {path}")
