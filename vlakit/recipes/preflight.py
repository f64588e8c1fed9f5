"""The preflight: every check of a recipe that needs no weights and no data generation.

``vlakit validate`` and ``vlakit train`` (before it prepares any data) run it. Beyond the schema
and the plugins' config models (:func:`~vlakit.recipes.loader.load_recipe`), it asks each
component block's config for its own checks (:meth:`~vlakit.ComponentConfig.preflight`), checks
the sections against each other (the prompt template, decoding and codec, ``eval.split`` and the
robot's splits) and the trainer block against this machine (:mod:`vlakit.train.machine`).
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from vlakit.errors import RecipeError, VlakitError
from vlakit.plugins.registry import KINDS, Registry
from vlakit.recipes.loader import load_recipe_with_sources
from vlakit.recipes.schema import Recipe, component_blocks, plugin_params
from vlakit.recipes.yaml_source import SourceMap


def preflight_recipe(
    path: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    registry: Registry | None = None,
    machine: bool = True,
) -> Recipe:
    """Load ``path`` like :func:`~vlakit.recipes.load_recipe`, then run every preflight check;
    all problems are reported together in one :class:`RecipeError`. ``machine=False`` skips the
    checks of the trainer block against this machine."""
    if registry is None:
        from vlakit.plugins import get_registry

        registry = get_registry()
    recipe, sources = load_recipe_with_sources(path, overrides, registry)
    problems = [
        *component_problems(recipe, registry, sources),
        *prompt_problems(recipe, sources),
        *decoding_problems(recipe, registry, sources),
        *split_problems(recipe, registry, sources),
        *schedule_problems(recipe, sources),
    ]
    if machine:
        from vlakit.train.machine import Machine, data_problems, machine_problems

        here = Machine.this()
        problems += [_located(sources, p) for p in machine_problems(recipe.trainer, "trainer", here)]
        problems += [_located(sources, p) for p in data_problems(recipe.data.num_workers, "data", here)]
    if problems:
        raise RecipeError("recipe fails the preflight:\n" + "\n".join(problems))
    return recipe


def _located(sources: SourceMap, problem: str) -> str:
    """``problem`` ("dotted.path: what") prefixed with the file and line of its path."""
    path = problem.split(":", 1)[0]
    where = sources.where(path) if " " not in path else None
    return f"{where}: {problem}" if where else problem


def _configs(recipe: Recipe, registry: Registry) -> list[tuple[str, Any, Any]]:
    """(dotted path, registration, config instance) of every component block."""
    found = []
    for path, kind, block in component_blocks(recipe.to_dict()):
        reg = registry.get(kind, str(block["type"]))
        params = {k: v for k, v in plugin_params(kind, block).items() if k != "type"}
        found.append((path, reg, reg.config.model_validate(params)))
    return found


def component_problems(recipe: Recipe, registry: Registry, sources: SourceMap) -> list[str]:
    """What each component's config finds wrong with its block (:meth:`ComponentConfig.preflight`)."""
    problems = []
    for path, reg, config in _configs(recipe, registry):
        check = getattr(config, "preflight", None)
        if check is None:
            continue
        try:
            found = list(check())
        except VlakitError as exc:
            found = [str(exc)]
        except Exception as exc:  # noqa: BLE001  (a plugin's check must not end in a traceback)
            found = [f"the {KINDS[reg.kind][0]}'s preflight failed: {type(exc).__name__}: {exc}"]
        owner = f"{KINDS[reg.kind][0]} {reg.name!r} from {reg.dist}"
        problems += [f"{_located(sources, f'{path}.{p}')} [{owner}]" for p in found]
    return problems


def prompt_problems(recipe: Recipe, sources: SourceMap) -> list[str]:
    """``model.prompt`` is a template with ``{instruction}`` as its only field."""
    prompt = recipe.model.prompt
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(prompt) if f is not None]
    except ValueError as exc:
        return [_located(sources, f"model.prompt: not a valid template ({exc}); write braces as {{{{ and }}}}")]
    other = sorted({f for f in fields if f != "instruction"})
    if other:
        return [_located(sources, f"model.prompt: only {{instruction}} is filled in, not {', '.join(other)}")]
    return []


def decoding_problems(recipe: Recipe, registry: Registry, sources: SourceMap) -> list[str]:
    """``model.decoding: expectation`` needs a codec that can decode by expectation."""
    if recipe.model.decoding != "expectation":
        return []
    from vlakit.model.compose import check_decoding

    try:
        codec = registry.build("codec", recipe.model.codec)  # a codec is light: no weights
        check_decoding(codec, recipe.model.decoding)
    except VlakitError as exc:
        return [_located(sources, f"model.decoding: {exc}")]
    except Exception as exc:  # noqa: BLE001  (a plugin's codec must not end in a traceback)
        return [_located(sources, f"model.codec: cannot be built to check model.decoding: {type(exc).__name__}: {exc}")]
    return []


def split_problems(recipe: Recipe, registry: Registry, sources: SourceMap) -> list[str]:
    """``eval.split`` names a split the robot declares (or ``all``)."""
    if recipe.eval is None or recipe.eval.split == "all":
        return []
    block = dict(recipe.eval.robot)
    reg = registry.get("robot", str(block.pop("type")))
    splits = reg.config.model_validate(block).task_splits()
    if splits is None or recipe.eval.split in splits:
        return []
    return [
        _located(
            sources,
            f"eval.split: robot {reg.name!r} offers the splits {', '.join(splits)} (or all), "
            f"not {recipe.eval.split!r}",
        )
    ]


def schedule_problems(recipe: Recipe, sources: SourceMap) -> list[str]:
    """Learning-rate multipliers are not negative; the warm-up ends within the training."""
    t = recipe.trainer
    problems = [
        _located(sources, f"trainer.lr_scale.{part}: expected a multiplier >= 0, got {scale}")
        for part, scale in t.lr_scale.items()
        if scale < 0
    ]
    if t.warmup_steps > t.max_steps:
        problems.append(_located(
            sources, f"trainer.warmup_steps: {t.warmup_steps} is more than trainer.max_steps ({t.max_steps})"
        ))
    return problems
