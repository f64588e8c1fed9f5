"""Conformance check for datasets (robot demonstrations and vision-language data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vlakit.interfaces.dataset import Dataset
from vlakit.types import ActionSpace, Sample


def _indices(n: int, max_samples: int) -> list[int]:
    """Up to ``max_samples`` indices spread over ``[0, n)``, always the first and the last."""
    if n <= max_samples:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, max_samples).round()})


def _check_sample(dataset: Dataset, sample: Sample, index: int, space: ActionSpace | None) -> None:
    name = type(dataset).__name__
    where = f"{name}[{index}]"
    assert isinstance(sample, Sample), f"{where} is {type(sample).__name__}, not a vlakit Sample"
    assert isinstance(sample.images, dict) and sample.images, f"{where} has no images"
    for cam, img in sample.images.items():
        assert isinstance(img, np.ndarray), (
            f"{where}: image {cam!r} is {type(img).__name__}, not a numpy array"
        )
        assert img.dtype == np.uint8, f"{where}: image {cam!r} has dtype {img.dtype}, expected uint8"
        assert img.ndim == 3 and img.shape[2] == 3 and img.shape[0] > 0 and img.shape[1] > 0, (
            f"{where}: image {cam!r} has shape {img.shape}, expected [H, W, 3]"
        )
    assert isinstance(sample.text, str) and sample.text.strip(), f"{where}: text is empty"
    if sample.state is not None:
        s = np.asarray(sample.state)
        assert s.ndim == 1 and s.dtype == np.float32, (
            f"{where}: state must be float32 [S], got {s.dtype} {s.shape}"
        )
    assert isinstance(sample.targets, dict), f"{where}: targets must be a dict of arrays"
    declared = dataset.targets
    for name, value in sample.targets.items():
        assert isinstance(value, np.ndarray), f"{where}: target {name!r} is {type(value).__name__}, not an array"
        spec = declared.get(name)
        assert spec is not None, f"{where}: target {name!r} is not declared by {name}.targets"
        assert value.shape == tuple(spec.shape) and value.dtype == np.dtype(spec.dtype), (
            f"{where}: target {name!r} is {value.dtype} {value.shape}, declared {spec.dtype} {tuple(spec.shape)}"
        )
        assert spec.camera is None or spec.camera in sample.images, (
            f"{where}: target {name!r} refers to camera {spec.camera!r}, not among the images {sorted(sample.images)}"
        )
    if space is None:
        assert sample.action is None, (
            f"{where}: a vision-language dataset (action_space None) yielded an action"
        )
        assert isinstance(sample.answer, str) and sample.answer.strip(), (
            f"{where}: answer is missing or empty"
        )
        return
    if sample.action is None:  # a robot dataset may mix in vision-language samples
        assert isinstance(sample.answer, str) and sample.answer.strip(), (
            f"{where}: sample has neither an action nor an answer"
        )
        return
    a = sample.action
    expected = (dataset.horizon, space.dim)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32, f"{where}: action must be a float32 array"
    assert a.shape == expected, f"{where}: action has shape {a.shape}, expected [horizon, D] = {expected}"
    assert np.all(np.isfinite(a)), f"{where}: action is not finite"
    tol = 1e-5 * np.maximum(1.0, np.abs(space.high_array - space.low_array))
    low, high = space.low_array - tol, space.high_array + tol
    bad = (a < low) | (a > high)
    assert not bad.any(), (
        f"{where}: action values outside the action space {space.names}: "
        f"min {a.min(axis=0).tolist()}, max {a.max(axis=0).tolist()}, limits {space.low}..{space.high}"
    )
    assert sample.answer is None, f"{where}: a robot sample must not carry an answer"


def _same(a: Sample, b: Sample) -> bool:
    if a.text != b.text or a.answer != b.answer or set(a.images) != set(b.images):
        return False
    if any(not np.array_equal(a.images[k], b.images[k]) for k in a.images):
        return False
    if set(a.targets) != set(b.targets):
        return False
    for x, y in (
        (a.action, b.action), (a.state, b.state), *((a.targets[k], b.targets[k]) for k in a.targets),
    ):
        if (x is None) != (y is None) or (x is not None and not np.array_equal(x, y)):
            return False
    return True


def check_dataset(
    dataset: Dataset, cache_dir: Path, horizon: int | None = None, max_samples: int = 8
) -> None:
    """Check that ``dataset`` honours the :class:`~vlakit.interfaces.dataset.Dataset` contract.

    Sets ``dataset.horizon`` when ``horizon`` is given, calls :meth:`prepare` with ``cache_dir``,
    then reads up to ``max_samples`` samples spread over the dataset: images are ``uint8``
    ``[H, W, 3]``; robot samples carry an action chunk ``[horizon, D]`` ``float32`` within the
    action space; vision-language samples carry an answer string; reading a sample twice gives
    the same sample; :meth:`actions` of a robot dataset has shape ``[N, horizon, D]``; every
    sample's text (and answer) is among :meth:`texts`.
    """
    name = type(dataset).__name__
    assert isinstance(dataset, Dataset), f"{name} is not a vlakit Dataset"
    if horizon is not None:
        dataset.horizon = horizon
    space = dataset.action_space
    assert space is None or isinstance(space, ActionSpace), f"{name}.action_space is {space!r}"
    dataset.prepare(Path(cache_dir))
    n = len(dataset)
    assert isinstance(n, int) and n > 0, f"{name} is empty after prepare() (len {n!r})"
    picks = _indices(n, max_samples)
    samples = {i: dataset[i] for i in picks}
    for i, sample in samples.items():
        _check_sample(dataset, sample, i, space)
    for i in picks[:3]:
        assert _same(samples[i], dataset[i]), f"{name}[{i}] differs between two reads (not deterministic)"
    if space is not None and any(s.action is not None for s in samples.values()):
        actions = dataset.actions()
        assert isinstance(actions, np.ndarray) and actions.dtype == np.float32, (
            f"{name}.actions() must return a float32 array"
        )
        assert actions.ndim == 3 and actions.shape[1:] == (dataset.horizon, space.dim), (
            f"{name}.actions() has shape {actions.shape}, expected [N, {dataset.horizon}, {space.dim}]"
        )
        if actions.shape[0] == n:
            for i, sample in samples.items():
                assert sample.action is None or np.allclose(actions[i], sample.action), (
                    f"{name}.actions()[{i}] differs from {name}[{i}].action"
                )
    texts = set(dataset.texts())
    assert all(isinstance(t, str) for t in texts), f"{name}.texts() must give strings"
    for i, sample in samples.items():
        assert sample.text in texts, f"{name}[{i}].text {sample.text!r} is not among {name}.texts()"
        assert sample.answer is None or sample.answer in texts, (
            f"{name}[{i}].answer {sample.answer!r} is not among {name}.texts()"
        )
