"""vlakit_tabletop: the embedded tabletop simulator, its scripted expert, and two datasets.

Registers, through vlakit's public plugin API:

* robot ``tabletop``: a 2-D top-down table of coloured shapes with a gripper and language tasks
  (:class:`~vlakit_tabletop.driver.TabletopDriver`, also a :class:`vlakit.TaskEnvironment`);
* dataset ``tabletop-demos``: scripted-expert demonstrations on the seen split;
* dataset ``tabletop-vqa``: questions and short answers about rendered scenes, including the
  VQA-only concept :data:`VQA_ONLY_CONCEPTS` that no demonstration contains;
* objective ``aim-point``: a head on the image tokens predicts the datasets' ``aim`` target
  (both datasets carry the targets ``aim`` and ``anchor``, see :mod:`vlakit_tabletop.targets`).

Importing this module is light (pydantic config models only); the simulator loads on first use.
"""

from __future__ import annotations

from typing import Any

from vlakit_tabletop.config import AimPointConfig, TabletopConfig, TabletopDemosConfig, TabletopVQAConfig
from vlakit_tabletop.splits import HELD_OUT_COMBOS, VQA_ONLY_CONCEPTS
from vlakit_tabletop.vocab import FAMILIES, SPLITS

from vlakit import hookimpl

#: The vlakit plugin API this plugin is written for.
VLAKIT_PLUGIN_API = 1

__all__ = [
    "FAMILIES",
    "HELD_OUT_COMBOS",
    "SPLITS",
    "VQA_ONLY_CONCEPTS",
    "TabletopConfig",
    "TabletopDemosConfig",
    "TabletopVQAConfig",
]


def make_driver(config: TabletopConfig) -> Any:
    """Factory of the ``tabletop`` robot."""
    from vlakit_tabletop.driver import TabletopDriver

    return TabletopDriver(config)


def make_demos(config: TabletopDemosConfig) -> Any:
    """Factory of the ``tabletop-demos`` dataset."""
    from vlakit_tabletop.demos import TabletopDemos

    return TabletopDemos(config)


def make_vqa(config: TabletopVQAConfig) -> Any:
    """Factory of the ``tabletop-vqa`` dataset."""
    from vlakit_tabletop.vqa import TabletopVQA

    return TabletopVQA(config)


def make_aim_point(config: AimPointConfig) -> Any:
    """Factory of the ``aim-point`` objective."""
    from vlakit_tabletop.objectives import AimPoint

    return AimPoint(config)


@hookimpl
def register_objectives(register: Any) -> None:
    register(
        "aim-point",
        make_aim_point,
        config=AimPointConfig,
        description="an MLP on all image tokens predicts where the robot heads for (L1 onto the aim target): "
        "teaches the vision backbone where the named object is",
    )


@hookimpl
def register_robots(register: Any) -> None:
    register(
        "tabletop",
        make_driver,
        config=TabletopConfig,
        example={"max_steps": 20},
        description="embedded 2-D tabletop simulator: shapes, colours, a gripper, language tasks, seen/unseen splits",
    )


@hookimpl
def register_datasets(register: Any) -> None:
    register(
        "tabletop-demos",
        make_demos,
        config=TabletopDemosConfig,
        example={"episodes": 12, "families": ["pick", "place-location"]},
        description="scripted-expert demonstrations of the tabletop tasks (seen split), cached as .npz",
    )
    register(
        "tabletop-vqa",
        make_vqa,
        config=TabletopVQAConfig,
        example={"samples": 64},
        description="questions with short answers about tabletop scenes, incl. the VQA-only colour",
    )


@hookimpl
def register_commands(cli: Any) -> None:
    from vlakit_tabletop.commands import add_commands

    add_commands(cli)
