"""The LightningDataModule: the recipe's sources mixed by weight, collated into token batches."""

from __future__ import annotations

import lightning as L
from torch.utils.data import DataLoader

from vlakit.data.collate import Collator
from vlakit.data.mixture import WeightedMixture, seed_worker
from vlakit.model import VLA
from vlakit.train.sources import Sources


class MixtureDataModule(L.LightningDataModule):
    """Feeds an endless weighted mixture; the collator needs the built model's tokenizer/codec."""

    def __init__(self, sources: Sources, batch_size: int, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.sources = sources
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.vla: VLA | None = None

    def attach(self, vla: VLA) -> None:
        """Use ``vla``'s prompt tokenizer, codec and token mapping for collation."""
        self.vla = vla

    def collator(self) -> Collator:
        vla = self.vla
        space = self.sources.action_space
        return Collator(
            vla.prompts,
            vla.codec,
            vla.mapping,
            self.sources.cameras,
            (vla.codec.horizon, space.dim),
            vla.state_proj.in_features if vla.state_proj is not None else 0,
            self.sources.targets,
        )

    def train_dataloader(self) -> DataLoader:
        if self.vla is None:
            self.attach(self.trainer.lightning_module.vla)
        trainer = self.trainer
        rank = trainer.global_rank if trainer is not None else 0
        # batches already consumed (resume): optimizer steps x accumulation
        consumed = trainer.global_step * trainer.accumulate_grad_batches if trainer is not None else 0
        mixture = WeightedMixture(
            self.sources.datasets, self.sources.weights, self.seed, rank, self.batch_size, consumed
        )
        return DataLoader(
            mixture,
            batch_size=self.batch_size,
            collate_fn=self.collator(),
            num_workers=self.num_workers,
            worker_init_fn=seed_worker,
            persistent_workers=self.num_workers > 0,
        )
