"""Robots from blocks: ``--robot TYPE`` or a YAML file, built through the plugin registry."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from vlakit.errors import PluginError, RobotError
from vlakit.interfaces.robot import RobotDriver
from vlakit.plugins import get_registry
from vlakit.plugins.registry import Registry
from vlakit.recipes.loader import format_validation_error
from vlakit.recipes.yaml_source import SourceMap


def parse_robot_option(text: str) -> dict[str, Any]:
    """``--robot`` value -> robot block: a registered robot type or a YAML file.

    The file holds the block itself (``{type: ..., ...params}``) or an eval-style mapping with
    the block under ``robot:``.
    """
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RobotError(f"robot file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise RobotError(f"cannot read robot file {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise RobotError(f"{path}: not valid YAML: {exc}") from None
        if isinstance(data, Mapping) and "type" not in data and isinstance(data.get("robot"), Mapping):
            data = data["robot"]
        if not isinstance(data, Mapping) or "type" not in data:
            raise RobotError(f"{path}: a robot block is a mapping with 'type' (and the robot's parameters)")
        return dict(data)
    return {"type": text}


def build_robot(
    block: Mapping[str, Any], registry: Registry | None = None, where: str = "robot"
) -> RobotDriver:
    """Build (not connect) the robot of ``block`` ``{type: NAME, ...params}``.

    Bad parameters raise :class:`RobotError` naming ``where.param``; an unknown type lists the
    registered robots.
    """
    registry = registry or get_registry()
    if not isinstance(block, Mapping) or "type" not in block:
        raise RobotError(
            f"{where}: a robot block needs 'type' (registered: {', '.join(registry.names('robot'))})"
        )
    reg = registry.get("robot", str(block["type"]))
    params = {k: v for k, v in block.items() if k != "type"}
    try:
        config = reg.config.model_validate(params)
    except ValidationError as exc:
        owner = f"robot {reg.name!r} from {reg.dist}"
        raise RobotError(
            "invalid robot block:\n" + format_validation_error(exc, where, SourceMap(), reg.config, owner)
        ) from None
    robot = reg.build(config)
    if not isinstance(robot, RobotDriver):
        raise PluginError(
            f"robot {reg.name!r} from {reg.dist} {reg.version} built a {type(robot).__name__}, "
            "not a vlakit.RobotDriver"
        )
    return robot
