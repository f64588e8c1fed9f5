"""vlakit_lerobot: LeRobot datasets (v3.0, v2.1, v2.0) in and out.

Registers, through vlakit's public plugin API:

* dataset ``lerobot``: a local LeRobot dataset as robot samples, with a writer of LeRobot v3.0
  (used by ``vlakit run --record`` and ``vlakit dataset export``);
* commands ``vlakit dataset info`` (features, episodes, tasks, stats, a contact sheet),
  ``vlakit dataset convert`` (v2.0/v2.1 to v3.0) and ``vlakit bench lerobot``.

Importing this module is light (the config model only); pyarrow and PyAV load on first use.
"""

from __future__ import annotations

from typing import Any

from vlakit_lerobot.config import LeRobotConfig

from vlakit import hookimpl

#: The vlakit plugin API this plugin is written for.
VLAKIT_PLUGIN_API = 1

__all__ = ["LeRobotConfig"]


def make_dataset(config: LeRobotConfig) -> Any:
    """Factory of the ``lerobot`` dataset."""
    from vlakit_lerobot.dataset import LeRobotDataset

    return LeRobotDataset(config)


def make_writer(root: Any, spec: Any) -> Any:
    """Writer factory of the ``lerobot`` format: LeRobot v3.0."""
    from vlakit_lerobot.writer import LeRobotWriter

    return LeRobotWriter(root, spec)


@hookimpl
def register_datasets(register: Any) -> None:
    register(
        "lerobot",
        make_dataset,
        config=LeRobotConfig,
        writer=make_writer,
        description="a local LeRobot dataset (v3.0, v2.1, v2.0): cameras, state, action chunks, tasks; writes v3.0",
    )


@hookimpl
def register_commands(cli: Any) -> None:
    from vlakit_lerobot.commands import add_commands

    add_commands(cli)
