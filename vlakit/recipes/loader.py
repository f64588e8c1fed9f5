"""Loading a recipe: ``extends`` resolution, overrides, and validation against the plugins."""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from vlakit.errors import RecipeError, UnknownComponentError
from vlakit.plugins.catalog import install_hint, providing_distribution
from vlakit.plugins.registry import KINDS, Registry, suggest
from vlakit.recipes.overrides import apply_override
from vlakit.recipes.schema import CORE_KEYS, Recipe, component_blocks
from vlakit.recipes.yaml_source import SourceMap, read_yaml


def deep_merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """``child`` over ``base``: mappings merge key by key, anything else is replaced.

    A component block whose ``type`` changes is replaced whole, so the params of the base's
    plugin do not leak into a different plugin's block.
    """
    out = copy.deepcopy(base)
    for key, value in child.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            if "type" in value and old.get("type") != value["type"]:
                out[key] = copy.deepcopy(value)
            else:
                out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


#: Most recipe files one recipe may read through ``extends`` (itself included).
MAX_EXTENDS_FILES = 64
#: Longest chain of ``extends`` from the recipe to its most distant base.
MAX_EXTENDS_DEPTH = 32


@dataclass
class ExtendsReader:
    """Reads a recipe and its bases, each file once (a diamond reads its shared base once),
    refusing cycles, chains deeper than :data:`MAX_EXTENDS_DEPTH` and more than
    :data:`MAX_EXTENDS_FILES` files."""

    #: resolved path -> (its mapping merged over its bases, where each dotted path was written)
    resolved: dict[Path, tuple[dict[str, Any], dict[str, str]]] = field(default_factory=dict)

    def resolve(self, path: Path, stack: tuple[Path, ...] = ()) -> tuple[dict[str, Any], dict[str, str]]:
        """``path`` merged over the recipes it ``extends``, and the locations of its paths."""
        path = path.resolve()
        if path in stack:
            chain = " -> ".join(str(p) for p in (*stack, path))
            raise RecipeError(f"extends cycle: {chain}")
        if len(stack) >= MAX_EXTENDS_DEPTH:
            raise RecipeError(
                f"{stack[-1]}: extends: the chain of base recipes is deeper than {MAX_EXTENDS_DEPTH} "
                f"(from {stack[0]})"
            )
        if path not in self.resolved:
            if len(self.resolved) >= MAX_EXTENDS_FILES:
                raise RecipeError(
                    f"{stack[-1] if stack else path}: extends: the recipe reads more than "
                    f"{MAX_EXTENDS_FILES} files through its base recipes"
                )
            self.resolved[path] = self._read(path, stack)
        data, locations = self.resolved[path]
        return copy.deepcopy(data), locations

    def _read(self, path: Path, stack: tuple[Path, ...]) -> tuple[dict[str, Any], dict[str, str]]:
        raw_sources = SourceMap()
        data = read_yaml(path, raw_sources)
        extends = data.pop("extends", None)
        if extends is None:
            bases: list[str] = []
        elif isinstance(extends, str):
            bases = [extends]
        elif isinstance(extends, list) and all(isinstance(b, str) for b in extends):
            bases = extends
        else:
            where = raw_sources.where("extends") or str(path)
            raise RecipeError(f"{where}: extends: expected a file path or a list of file paths")
        merged: dict[str, Any] = {}
        locations: dict[str, str] = {}
        for base in bases:
            base_path = path.parent / base
            if not base_path.exists():
                where = raw_sources.where("extends") or str(path)
                raise RecipeError(f"{where}: extends: base recipe not found: {base_path}")
            base_data, base_locations = self.resolve(base_path, (*stack, path))
            merged = deep_merge(merged, base_data)
            locations.update(base_locations)
        locations.update(raw_sources.locations)  # the child's lines win
        return deep_merge(merged, data), locations


def resolve_extends(path: Path, sources: SourceMap) -> dict[str, Any]:
    """Read ``path`` and merge it over the recipes it ``extends`` (relative paths, cycles refused,
    each file read once, chain depth and file count bounded); record where each path was written."""
    data, locations = ExtendsReader().resolve(Path(path))
    sources.locations.update(locations)
    return data


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (a value in a message, never a page of it)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_expected(model: type[BaseModel], field: str) -> str:
    info = model.model_fields.get(field)
    if info is None:
        return ""
    ann = info.annotation
    name = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
    if name in ("Union", "Literal", "Optional"):  # the message already lists what is expected
        return ""
    return f" (expected {name})"


def format_validation_error(
    exc: ValidationError,
    prefix: str,
    sources: SourceMap,
    model: type[BaseModel],
    owner: str = "",
) -> str:
    """One line per problem: ``file:line: dotted.path: what is wrong``."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        path = ".".join([prefix, *loc] if prefix else loc)
        where = sources.where(path)
        head = f"{where}: {path}" if where else path
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            allowed = sorted(parent.model_fields) if parent is not None else []
            msg = f"unknown key {loc[-1]!r}"
            guess = suggest(loc[-1], allowed)
            if guess:
                msg += f"; did you mean {guess!r}?"
            if allowed:
                msg += f" (allowed: {', '.join(allowed)})"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            parent = _model_at(model, loc[:-1])
            expected = _describe_expected(parent, loc[-1]) if parent is not None and loc else ""
            msg = f"{err['msg']}, got {short_repr(err.get('input'))}{expected}"
        if owner:
            msg += f" [{owner}]"
        lines.append(f"{head}: {msg}")
    return "\n".join(lines)


def _model_at(model: type[BaseModel], loc: list[str]) -> type[BaseModel] | None:
    """The pydantic model that owns the field at ``loc`` (best effort)."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(part)
        if info is None:
            return None
        ann = info.annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type)]
        current = next((a for a in [ann, *args] if isinstance(a, type) and issubclass(a, BaseModel)), None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def validate_components(data: dict[str, Any], registry: Registry, sources: SourceMap) -> None:
    """Validate each component block against its plugin's config; fill defaults in place."""
    problems = []
    missing: list[str] = []
    for path, kind, block in component_blocks(data):
        label = KINDS[kind][0]
        where = sources.where(path)
        head = f"{where}: {path}" if where else path
        if "type" not in block:
            problems.append(f"{head}: a {label} block needs 'type' (registered: {', '.join(registry.names(kind))})")
            continue
        try:
            reg = registry.get(kind, str(block["type"]))
        except UnknownComponentError as exc:
            type_where = sources.where(f"{path}.type") or where
            dist = providing_distribution(kind, str(block["type"]))
            if dist is not None and all(f.dist != dist for f in registry.failures):
                missing.append(dist)
                problems.append(f"{type_where}: {path}.type: {label} {block['type']!r} comes with {dist}")
            else:
                problems.append(f"{type_where}: {path}.type: {exc}")
            continue
        params = {k: v for k, v in block.items() if k != "type"}
        core = {}
        core_keys = CORE_KEYS.get(kind, ())
        if core_keys:
            core = {k: params.pop(k) for k in core_keys if k in params}
            weight = core.get("weight", 1.0)
            least = 0.0 if kind == "objective" else None  # an objective of weight 0 is off
            if (
                not isinstance(weight, (int, float))
                or isinstance(weight, bool)
                or not weight < math.inf
                or (weight < least if least is not None else not weight > 0)
            ):
                expected = "a finite number >= 0 (0: off)" if least is not None else "a finite number > 0"
                where = sources.where(f"{path}.weight")
                problems.append(f"{where}: {path}.weight: expected {expected}, got {short_repr(weight)}")
                continue
        try:
            config = reg.config.model_validate(params)
        except ValidationError as exc:
            owner = f"{label} {reg.name!r} from {reg.dist}"
            problems.append(format_validation_error(exc, path, sources, reg.config, owner))
            continue
        block.clear()
        block.update({"type": reg.name, **core, **config.model_dump(mode="json")})
    if missing:
        problems.append(install_hint(missing))
    if problems:
        raise RecipeError("invalid recipe:\n" + "\n".join(problems))


def load_recipe(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    registry: Registry | None = None,
) -> Recipe:
    """Read, resolve and validate a recipe. Raises :class:`RecipeError` with one clear message.

    Validation loads no weights and opens no hardware: only config models are checked (the
    further checks of :func:`vlakit.recipes.preflight.preflight_recipe` are not run).
    """
    return load_recipe_with_sources(path, overrides, registry)[0]


#: Largest magnitude of a whole number in a recipe (what a 64-bit integer holds).
MAX_INT = 2**63 - 1


def number_problems(data: Any, sources: SourceMap, path: str = "") -> list[str]:
    """Numbers no recipe field takes, anywhere (free-form blocks included): NaN, infinities, and
    whole numbers beyond 64 bits. One line per place, ``file:line: dotted.path: what``."""
    problems = []
    stack: list[tuple[str, Any]] = [(path, data)]
    seen: set[int] = set()
    while stack:
        where, node = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen:  # shared through an alias: looked at once
                continue
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in items)
            continue
        bad = None
        if isinstance(node, float) and not math.isfinite(node):
            bad = f"expected a finite number, got {node}"
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INT:
            bad = f"a number of {len(str(abs(node)))} digits; numbers in a recipe fit in 64 bits"
        if bad:
            located = sources.where(where)
            problems.append(f"{located}: {where}: {bad}" if located else f"{where}: {bad}")
    return sorted(problems)


def default_name(path: str | Path) -> str:
    """The name of a recipe that gives none: its file name without suffix, made a valid name."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(path).stem).lstrip("._-")[:128]
    return name or "recipe"


def load_recipe_with_sources(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    registry: Registry | None = None,
) -> tuple[Recipe, SourceMap]:
    """:func:`load_recipe`, also returning where each dotted path was written."""
    if registry is None:
        from vlakit.plugins import get_registry

        registry = get_registry()
    sources = SourceMap()
    data = resolve_extends(Path(path), sources)
    for text in overrides:
        apply_override(data, text)
        key = text.partition("=")[0].strip()
        sources.locations[key] = f"override {text!r}"
    if "name" not in data:
        data["name"] = default_name(path)
    bad_numbers = number_problems(data, sources)
    if bad_numbers:
        raise RecipeError("invalid recipe:\n" + "\n".join(bad_numbers))
    try:
        Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError("invalid recipe:\n" + format_validation_error(exc, "", sources, Recipe)) from None
    validate_components(data, registry, sources)
    return Recipe.model_validate(data), sources
