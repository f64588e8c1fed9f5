"""Dotted command-line overrides: ``trainer.max_steps=10``, ``data.train.0.weight=0.5``."""

from __future__ import annotations

from typing import Any

from vlakit.errors import RecipeError
from vlakit.recipes.yaml_source import MAX_DEPTH, parse_yaml


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b.c=VALUE"`` -> (["a", "b", "c"], VALUE parsed as a YAML scalar or flow value)."""
    if "=" not in text:
        raise RecipeError(f"bad override {text!r}: expected KEY.PATH=VALUE, e.g. trainer.max_steps=10")
    key, _, raw = text.partition("=")
    key = key.strip()
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise RecipeError(f"bad override {text!r}: the key {key!r} is not a dotted path")
    if len(parts) > MAX_DEPTH:
        raise RecipeError(f"bad override {text[:80]!r}...: the key is deeper than {MAX_DEPTH} levels")
    try:
        value = parse_yaml(raw, "value")[0] if raw.strip() else None
    except RecipeError as exc:
        raise RecipeError(f"bad override {text!r}: the {exc}") from None
    return parts, value


def apply_override(data: dict[str, Any], text: str) -> None:
    """Apply one override to the raw recipe mapping in place."""
    parts, value = parse_override(text)
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        here = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            node = node[_index(node, part, here, text)]
            continue
        if not isinstance(node, dict):
            raise RecipeError(f"bad override {text!r}: {here!r} is not a section")
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last, ".".join(parts), text)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise RecipeError(f"bad override {text!r}: {'.'.join(parts[:-1])!r} is not a section")


def _index(items: list[Any], part: str, here: str, text: str) -> int:
    try:
        i = int(part)
    except ValueError:
        raise RecipeError(f"bad override {text!r}: {here!r} is a list, index it with a number") from None
    if not -len(items) <= i < len(items):
        raise RecipeError(f"bad override {text!r}: {here!r} has no item {i} (it has {len(items)})")
    return i
