"""The plugin's commands: ``vlakit dataset info``, ``vlakit dataset convert`` and ``vlakit bench lerobot``
(added through ``register_commands`` to vlakit's ``dataset`` and ``bench`` groups)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _group(cli: Any, name: str) -> Any:
    import click

    group = cli.commands.get(name) if hasattr(cli, "commands") else None
    return group if isinstance(group, click.Group) else None


def add_commands(cli: Any) -> None:
    """Add ``info`` and ``convert`` under ``dataset``, ``lerobot`` under ``bench``."""
    import click

    dataset = _group(cli, "dataset") or cli
    bench = _group(cli, "bench") or cli

    @dataset.command("info")
    @click.argument("path", type=click.Path(file_okay=False, path_type=Path))
    @click.option(
        "--sheet",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Contact sheet PNG to write (default: <dataset name>-contact-sheet.png here).",
    )
    @click.option("--frames", type=click.IntRange(1, 32), default=6, show_default=True, help="Frames per camera on the sheet.")
    @click.option("--no-sheet", is_flag=True, help="Print the summary only.")
    def info_command(path: Path, sheet: Path | None, frames: int, no_sheet: bool) -> None:
        """Features, episodes, frames, fps, tasks and stats of the LeRobot dataset at PATH, and a
        contact sheet PNG of a few frames per camera."""
        from vlakit_lerobot.layout import load_meta
        from vlakit_lerobot.summary import contact_sheet, describe

        meta = load_meta(path)
        click.echo(describe(meta))
        if not no_sheet and meta.cameras and meta.episodes:
            out = sheet or Path(f"{path.resolve().name}-contact-sheet.png")
            contact_sheet(path, out, per_camera=frames)
            click.echo(f"contact sheet: {out}")

    @dataset.command("convert")
    @click.argument("path", type=click.Path(file_okay=False, path_type=Path))
    @click.option("--to", "target", type=click.Choice(["v3.0"]), default="v3.0", show_default=True, help="Version to write.")
    @click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        help="Write the converted dataset here (default: in place, the original kept as PATH_<version>).",
    )
    def convert_command(path: Path, target: str, out: Path | None) -> None:
        """Convert the LeRobot v2.0/v2.1 dataset at PATH to v3.0 in one step (video is not re-encoded)."""
        from vlakit_lerobot.convert import convert_in_place, convert_to_v30

        if out is not None:
            convert_to_v30(path, out)
            click.echo(f"wrote {out} ({target})")
        else:
            backup = convert_in_place(path)
            click.echo(f"converted {path} to {target}; the original is in {backup}")

    @bench.command("lerobot" if bench is not cli else "bench-lerobot")
    @click.option("--episodes", default=200, show_default=True, help="Episodes of the generated dataset.")
    @click.option("--frames", default=40, show_default=True, help="Frames per episode.")
    @click.option("--samples", default=512, show_default=True, help="Samples timed per setting.")
    @click.option("--workers", default="0,2", show_default=True, help="DataLoader worker counts to time, comma-separated.")
    @click.option("--dir", "where", type=click.Path(file_okay=False, path_type=Path), help="Where to generate (default: a temp dir).")
    def bench_lerobot(episodes: int, frames: int, samples: int, workers: str, where: Path | None) -> None:
        """Samples per second a `lerobot` dataset (a 64x64 and a 224x224 camera, MP4) delivers to
        training, per number of loader workers, and memory as the dataset grows."""
        from vlakit_lerobot.bench import main

        main(episodes, frames, samples, [int(w) for w in workers.split(",")], where)
