"""A JSON Schema of recipes with every registered component, for editor completion."""

from __future__ import annotations

from typing import Any

from vlakit.plugins.registry import Registry
from vlakit.recipes.schema import Recipe


def component_schema(registry: Registry, kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``oneOf`` the registered components of ``kind``, each ``{type: const NAME, ...config}``."""
    choices = []
    for reg in registry.list(kind):
        schema = reg.config.model_json_schema()
        props = {"type": {"const": reg.name, "description": reg.description}, **(extra or {})}
        props.update(schema.get("properties", {}))
        choice = {
            "title": f"{reg.name} ({reg.dist})",
            "type": "object",
            "properties": props,
            "required": ["type", *schema.get("required", [])],
            "additionalProperties": False,
        }
        if "$defs" in schema:
            choice["$defs"] = schema["$defs"]
        choices.append(choice)
    return {"oneOf": choices} if choices else {"type": "object"}


def recipe_json_schema(registry: Registry) -> dict[str, Any]:
    """The recipe schema with the component slots filled from ``registry``."""
    schema = Recipe.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["properties"]["extends"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "base recipe(s), relative to this file",
    }
    defs = schema["$defs"]
    model = defs["ModelSection"]["properties"]
    model["vision"] = {"anyOf": [component_schema(registry, "vision"), {"type": "null"}]}
    model["language"] = component_schema(registry, "language")
    model["codec"] = component_schema(registry, "codec")
    objective_weight = {"weight": {"type": "number", "minimum": 0, "default": 1.0}}
    model["objectives"] = {"type": "array", "items": component_schema(registry, "objective", objective_weight)}
    weight = {"weight": {"type": "number", "exclusiveMinimum": 0, "default": 1.0}}
    defs["DataSection"]["properties"]["train"] = {
        "type": "array",
        "minItems": 1,
        "items": component_schema(registry, "dataset", weight),
    }
    defs["EvalSection"]["properties"]["robot"] = component_schema(registry, "robot")
    return schema
