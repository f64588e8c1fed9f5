"""The weighted mixture: weights respected, deterministic, resumable exactly."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from torch.utils.data import DataLoader

from vlakit import Dataset, Sample
from vlakit.data.mixture import WeightedMixture


class Numbers(Dataset):
    """A real (tiny) dataset of vision-language samples whose answer is the source and index."""

    def __init__(self, tag: str, n: int):
        self.tag, self.n = tag, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Sample:
        return Sample(images={}, text="q", answer=f"{self.tag}{i}")


def test_weights_are_respected():
    mix = WeightedMixture([Numbers("a", 10), Numbers("b", 10)], [3.0, 1.0], seed=0)
    tags = [s.answer[0] for s in itertools.islice(iter(mix), 8000)]
    share = tags.count("a") / len(tags)
    assert share == pytest.approx(0.75, abs=0.02)


def test_deterministic_and_distinct_per_rank():
    srcs = [Numbers("a", 50)]
    first = [s.answer for s in itertools.islice(iter(WeightedMixture(srcs, [1], seed=1)), 50)]
    again = [s.answer for s in itertools.islice(iter(WeightedMixture(srcs, [1], seed=1)), 50)]
    other = [s.answer for s in itertools.islice(iter(WeightedMixture(srcs, [1], seed=1, rank=1)), 50)]
    assert first == again and first != other


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_continues_the_stream(workers):
    srcs = [Numbers("a", 100), Numbers("b", 7)]

    def batches(start: int, n: int) -> list[list[str]]:
        mix = WeightedMixture(srcs, [1, 1], seed=3, batch_size=4, start_batch=start)
        loader = DataLoader(mix, batch_size=4, num_workers=workers, collate_fn=lambda b: [s.answer for s in b])
        return list(itertools.islice(iter(loader), n))

    full = batches(0, 9)
    assert batches(5, 4) == full[5:]
    assert np.all([len(b) == 4 for b in full])
