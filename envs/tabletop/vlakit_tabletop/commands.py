"""The plugin's CLI command: ``vlakit bench tabletop`` (added through ``register_commands``)."""

from __future__ import annotations

from typing import Any


def add_commands(cli: Any) -> None:
    """Add ``tabletop`` under vlakit's ``bench`` group (or as ``bench-tabletop`` without one)."""
    import click

    group = cli.commands.get("bench") if hasattr(cli, "commands") else None
    target = group if isinstance(group, click.Group) else cli

    @target.command("tabletop" if target is group else "bench-tabletop")
    @click.option("--steps", default=20000, show_default=True, help="Simulator steps to time.")
    @click.option("--image-size", default=64, show_default=True, help="Rendered image side, pixels.")
    def bench_tabletop(steps: int, image_size: int) -> None:
        """Simulator steps per second (dynamics + a rendered frame each), on one core."""
        from vlakit_tabletop.bench import main

        main([str(steps), str(image_size)])
