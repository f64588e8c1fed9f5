"""Recipes: YAML files that name one plugin per slot, validated by pydantic."""

from vlakit.recipes.jsonschema import recipe_json_schema
from vlakit.recipes.loader import deep_merge, load_recipe
from vlakit.recipes.reference import recipe_reference
from vlakit.recipes.schema import Recipe

__all__ = ["Recipe", "deep_merge", "load_recipe", "recipe_json_schema", "recipe_reference"]
