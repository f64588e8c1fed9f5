"""Reading recipe YAML while remembering where each dotted path was written (file and line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vlakit.errors import RecipeError


@dataclass
class SourceMap:
    """Dotted path -> ``file:line`` where the value was last written (later files win)."""

    locations: dict[str, str] = field(default_factory=dict)

    def record(self, node: yaml.Node, path: str, file: str) -> None:
        self.locations[path] = f"{file}:{node.start_mark.line + 1}"
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = str(key_node.value)
                self.record(value_node, f"{path}.{key}" if path else key, file)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.record(item, f"{path}.{i}" if path else str(i), file)

    def where(self, path: str) -> str | None:
        """The location of ``path`` or of its nearest written parent."""
        parts = path.split(".")
        while parts:
            key = ".".join(parts)
            if key in self.locations:
                return self.locations[key]
            parts.pop()
        return None


def read_yaml(path: Path, sources: SourceMap) -> dict[str, Any]:
    """Parse one YAML file into a mapping, recording the line of every path in ``sources``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(f"recipe file not found: {path}") from None
    except OSError as exc:
        raise RecipeError(f"cannot read recipe {path}: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise RecipeError(f"{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping of sections, got {type(data).__name__}")
    if node is not None:
        sources.record(node, "", str(path))
    return data
