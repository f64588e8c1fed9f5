"""Mixing the recipe's data sources by weight into an endless, deterministic sample stream."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from vlakit.interfaces import Dataset
from vlakit.types import Sample


class WeightedMixture(IterableDataset):
    """Endless stream of samples: each draw picks a source with probability ∝ weight.

    Deterministic for a given ``seed``, rank and worker: every (rank, worker) pair gets its own
    generator seeded from ``(seed, rank, worker)``, so DDP ranks and data-loader workers never
    repeat each other's draws.
    """

    def __init__(self, sources: Sequence[Dataset], weights: Sequence[float], seed: int = 0, rank: int = 0):
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

    def generator(self) -> np.random.Generator:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        return np.random.default_rng([self.seed, self.rank, worker])

    def __iter__(self) -> Iterator[Sample]:
        rng = self.generator()
        lengths = np.array([len(s) for s in self.sources])
        while True:
            which = rng.choice(len(self.sources), size=256, p=self.probs)
            index = (rng.random(256) * lengths[which]).astype(np.int64)
            for w, i in zip(which, index):
                yield self.sources[w][int(i)]


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: keep torch's per-worker seed derived from the base seed."""
    torch.manual_seed(torch.initial_seed() % 2**31 + worker_id)
