"""Documents other than recipes that plugins teach ``vlakit validate`` to check.

A plugin registers a document kind (``register_document_kinds``): the top-level key that marks
such a YAML file and the pydantic model of the whole file. Validation errors name the file,
line and dotted path, as for recipes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from vlakit.errors import RecipeError
from vlakit.plugins.registry import Registration, Registry
from vlakit.recipes.loader import format_validation_error
from vlakit.recipes.yaml_source import SourceMap, read_yaml


def document_kind(data: dict[str, Any], registry: Registry) -> Registration | None:
    """The registered document kind whose key ``data`` has at its top level, if any."""
    found = [registry.components["document"][key] for key in data if key in registry.components["document"]]
    if len(found) > 1:
        raise RecipeError(
            f"the file has the top-level keys of several document kinds: {', '.join(r.name for r in found)}"
        )
    return found[0] if found else None


def validate_document(path: Path, registry: Registry) -> str | None:
    """Check ``path`` if it is a registered kind of document: returns ``"<kind>: <summary>"``,
    or ``None`` when it is not one (then it is a recipe). Raises :class:`RecipeError`."""
    sources = SourceMap()
    data = read_yaml(path, sources)
    reg = document_kind(data, registry)
    if reg is None:
        return None
    try:
        document = reg.config.model_validate(data)
    except ValidationError as exc:
        owner = f"{reg.description or reg.name} from {reg.dist}"
        raise RecipeError(
            f"invalid {reg.name} document:\n" + format_validation_error(exc, "", sources, reg.config, owner)
        ) from None
    summary = reg.factory(document)
    return f"{reg.description or reg.name}" + (f" ({summary})" if summary else "")
