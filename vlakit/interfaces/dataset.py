"""The dataset interface: robot demonstrations and vision-language samples."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vlakit.types import ActionSpace, Episode, Sample, TargetSpec


class Dataset(ABC):
    """A map-style source of :class:`~vlakit.types.Sample`.

    Robot datasets have an :attr:`action_space` and yield samples whose ``action`` is a chunk
    ``[horizon, D]`` in robot units; vision-language datasets have ``action_space = None`` and
    yield question/answer samples. :meth:`prepare` does the slow one-time work (generation,
    conversion, caching) and is called once before the first :meth:`__getitem__`.
    """

    #: Chunk length ``H`` of the actions in robot samples; set by the training pipeline from
    #: the codec before :meth:`prepare`.
    horizon: int = 1

    #: Frames per second of the episodes (robot datasets that know it), else ``None``.
    fps: float | None = None

    @property
    def action_space(self) -> ActionSpace | None:
        """The action space of robot samples, or ``None`` for vision-language data."""
        return None

    @property
    def targets(self) -> dict[str, TargetSpec]:
        """The named training targets its samples may carry (:attr:`Sample.targets`), with their
        shape, dtype and, for image-space targets, the camera they refer to. Default: none."""
        return {}

    def num_episodes(self) -> int | None:
        """Number of whole episodes :meth:`episode` gives, or ``None`` when the dataset does not
        keep episodes (vision-language data, or a source that only yields samples)."""
        return None

    def episode(self, index: int) -> Episode:
        """Episode ``index`` in ``[0, num_episodes)``, whole (for export to another format)."""
        raise NotImplementedError(f"{type(self).__name__} does not give whole episodes")

    def prepare(self, cache_dir: Path) -> None:
        """Generate or load the data, caching under ``cache_dir``. Default: nothing to do."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of samples."""

    @abstractmethod
    def __getitem__(self, index: int) -> Sample:
        """Sample ``index`` in ``[0, len(self))``."""

    def actions(self) -> np.ndarray:
        """All action chunks ``[N, H, D]`` ``float32`` (for fitting a codec).

        The default loops over the samples; datasets that hold their actions as arrays should
        override it.
        """
        chunks = [s.action for s in (self[i] for i in range(len(self))) if s.action is not None]
        if not chunks:
            raise ValueError(f"{type(self).__name__} has no robot actions")
        return np.stack(chunks).astype(np.float32)

    def texts(self) -> Iterator[str]:
        """Every text of the dataset: instructions, questions and answers (for fitting a tokenizer).

        The default loops over the samples (images included); datasets that hold their texts
        apart should override it.
        """
        for i in range(len(self)):
            sample = self[i]
            yield sample.text
            if sample.answer is not None:
                yield sample.answer
