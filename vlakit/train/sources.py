"""The recipe's data sources: built, prepared (generated/cached), and summarized for the codec."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vlakit.errors import RecipeError
from vlakit.interfaces import ActionCodec, Dataset
from vlakit.plugins.registry import Registry
from vlakit.recipes.schema import Recipe, plugin_params
from vlakit.types import ActionSpace, TargetSpec


@dataclass
class Sources:
    """Prepared datasets with their mixture weights, and what they say about the robot."""

    datasets: list[Dataset]
    weights: list[float]
    action_space: ActionSpace
    cameras: list[str]
    state_dim: int
    #: the named training targets the datasets declare (:attr:`Dataset.targets`)
    targets: dict[str, TargetSpec] = field(default_factory=dict)

    def robot_actions(self) -> np.ndarray:
        """All robot action chunks ``[N, H, D]`` for fitting the codec."""
        return np.concatenate([d.actions() for d in self.datasets if d.action_space is not None])

    def texts(self) -> Iterator[str]:
        """Every text of every dataset (instructions, questions, answers), for fitting a tokenizer."""
        for dataset in self.datasets:
            yield from dataset.texts()

    def action_stats(self) -> dict[str, Any]:
        """Per-dimension statistics of the robot actions (robot units), saved in the bundle."""
        a = self.robot_actions().reshape(-1, self.action_space.dim).astype(np.float64)
        return {
            "names": list(self.action_space.names),
            "mean": a.mean(0).tolist(),
            "std": a.std(0).tolist(),
            "min": a.min(0).tolist(),
            "max": a.max(0).tolist(),
            "q01": np.quantile(a, 0.01, axis=0).tolist(),
            "q99": np.quantile(a, 0.99, axis=0).tolist(),
            "count": int(a.shape[0]),
        }


def build_sources(recipe: Recipe, registry: Registry, horizon: int, cache_dir: Path | None = None) -> Sources:
    """Build every ``data.train`` source, set its chunk ``horizon`` and call ``prepare``."""
    cache = Path(cache_dir or recipe.data.cache_dir)
    datasets, weights = [], []
    for block in recipe.data.train:
        params = plugin_params("dataset", block)
        ds = registry.build("dataset", params)
        ds.horizon = horizon
        ds.prepare(cache)
        datasets.append(ds)
        weights.append(float(block.get("weight", 1.0)))
    robot = [d for d in datasets if d.action_space is not None]
    if not robot:
        raise RecipeError("data.train: at least one source must be robot data (with actions)")
    space = robot[0].action_space
    for i, d in enumerate(datasets):
        if d.action_space is not None and (why := space.mismatch(d.action_space)):
            raise RecipeError(f"data.train.{i}: action space differs from the first robot source: {why}")
    check_images_agree(datasets, [str(block.get("type")) for block in recipe.data.train])
    first = robot[0][0]
    cameras = sorted(first.images)
    state_dim = 0 if first.state is None else int(np.asarray(first.state).shape[-1])
    return Sources(datasets, weights, space, cameras, state_dim, declared_targets(datasets))


def declared_targets(datasets: list[Dataset]) -> dict[str, TargetSpec]:
    """The union of the datasets' declared targets; two sources that declare one name differently
    are a :class:`RecipeError`."""
    specs: dict[str, TargetSpec] = {}
    owner: dict[str, int] = {}
    for i, dataset in enumerate(datasets):
        for name, spec in dataset.targets.items():
            known = specs.get(name)
            if known is not None and (known.shape, known.dtype, known.camera) != (spec.shape, spec.dtype, spec.camera):
                raise RecipeError(
                    f"data.train.{i}: target {name!r} is declared as {spec}, but data.train.{owner[name]} "
                    f"declares it as {specs[name]}"
                )
            specs.setdefault(name, spec)
            owner.setdefault(name, i)
    return specs


def image_shapes(sample: Any) -> dict[str, tuple[int, ...]]:
    """Camera name -> image shape ``(H, W, 3)`` of one sample."""
    return {cam: tuple(np.shape(image)) for cam, image in sorted(sample.images.items())}


def check_images_agree(datasets: list[Dataset], types: list[str]) -> None:
    """Every source must give the same cameras at the same sizes: a batch mixes sources and
    stacks their images. Compares the first, middle and last sample of each prepared dataset with
    the first sample of the first robot source; raises :class:`RecipeError` naming both sources."""
    ref = next(i for i, d in enumerate(datasets) if d.action_space is not None)
    want = image_shapes(datasets[ref][0])

    def show(shapes: dict[str, tuple[int, ...]]) -> str:
        return ", ".join(f"{cam!r} {'x'.join(map(str, shape))}" for cam, shape in shapes.items()) or "none"

    for i, dataset in enumerate(datasets):
        n = len(dataset)
        for index in sorted({0, n // 2, n - 1}):
            got = image_shapes(dataset[index])
            if got != want:
                raise RecipeError(
                    f"data.train.{i} ({types[i]}) gives images {show(got)} (sample {index}) but "
                    f"data.train.{ref} ({types[ref]}) gives {show(want)}: every source must give the same "
                    "cameras at the same size (a batch stacks them); set the sources' image size and "
                    "camera names to agree"
                )


def fit_codec(codec: ActionCodec, sources: Sources) -> None:
    """Fit ``codec`` on the robot actions of ``sources``."""
    actions = sources.robot_actions()
    if actions.shape[-1] != sources.action_space.dim:
        raise RecipeError(
            f"robot actions have {actions.shape[-1]} dimensions but the action space names {sources.action_space.dim}"
        )
    codec.fit(actions)


def fit_language_block(recipe: Recipe, registry: Registry, sources: Sources) -> Recipe:
    """The recipe with what its language model learns from the training texts merged into the
    ``model.language`` block (e.g. a word vocabulary; see ``ComponentConfig.fitted_to_texts``).

    The texts are every dataset's texts plus the prompt template without its slot. A block that
    learns nothing (or already has what it would learn) leaves the recipe as it is.
    """
    params = dict(recipe.model.language)
    config = registry.get("language", params.pop("type")).config.model_validate(params)
    template = recipe.model.prompt.replace("{instruction}", " ")

    def texts() -> Iterator[str]:
        yield template
        yield from sources.texts()

    learned = config.fitted_to_texts(texts)
    if not learned:
        return recipe
    data = recipe.to_dict()
    data["model"]["language"] = {**data["model"]["language"], **learned}
    return Recipe.model_validate(data)
