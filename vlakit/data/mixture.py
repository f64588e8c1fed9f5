"""Mixing the recipe's data sources by weight into an endless, deterministic sample stream."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from vlakit.interfaces import Dataset
from vlakit.types import Sample


class WeightedMixture(IterableDataset):
    """Endless stream of samples: each draw picks a source with probability ∝ weight.

    Deterministic for a given ``seed``: every (rank, batch) pair gets its own generator seeded
    from ``(seed, rank, batch)``, so DDP ranks and data-loader workers never
    repeat each other's draws. A ``DataLoader`` takes batch ``k`` from worker ``k % workers``;
    each batch's draws depend on its global index alone, so ``start_batch`` resumes exactly.
    """

    def __init__(
        self,
        sources: Sequence[Dataset],
        weights: Sequence[float],
        seed: int = 0,
        rank: int = 0,
        batch_size: int = 1,
        start_batch: int = 0,
    ):
        if len(sources) != len(weights) or not sources:
            raise ValueError("need one weight per source and at least one source")
        for src in sources:
            if len(src) == 0:
                raise ValueError(f"data source {type(src).__name__} is empty")
        w = np.asarray(weights, dtype=np.float64)
        self.sources = list(sources)
        self.probs = w / w.sum()
        self.seed = seed
        self.rank = rank
        self.batch_size = batch_size
        self.start_batch = start_batch

    def _worker(self) -> tuple[int, int]:
        info = get_worker_info()
        return (info.id, info.num_workers) if info is not None else (0, 1)

    def batch_draws(self, k: int, lengths: np.ndarray) -> list[tuple[int, int]]:
        """The (source, index) pairs of global batch ``k``, from a generator seeded by ``k``."""
        rng = np.random.default_rng([self.seed, self.rank, k])
        which = rng.choice(len(self.sources), size=self.batch_size, p=self.probs)
        index = (rng.random(self.batch_size) * lengths[which]).astype(np.int64)
        return [(int(w), int(i)) for w, i in zip(which, index)]

    def draws(self) -> Iterator[tuple[int, int]]:
        """Endless (source, index) pairs: this worker's share of the batches from ``start_batch``.

        Batch ``k`` depends only on ``(seed, rank, k)``, so the stream is the same whatever the
        number of workers, and resuming at any batch is exact.
        """
        worker, workers = self._worker()
        lengths = np.array([len(s) for s in self.sources])
        for k in itertools.count(self.start_batch + worker, workers):
            yield from self.batch_draws(k, lengths)

    def __iter__(self) -> Iterator[Sample]:
        for w, i in self.draws():
            yield self.sources[w][i]


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: keep torch's per-worker seed derived from the base seed."""
    torch.manual_seed(torch.initial_seed() % 2**31 + worker_id)
