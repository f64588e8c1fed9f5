"""The vision backbone interface: images -> patch features."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import nn


class VisionBackbone(nn.Module, ABC):
    """A vision encoder that owns its preprocessing.

    :meth:`preprocess` takes ``uint8`` images ``[B, H, W, 3]`` (any size) and returns the float
    tensor ``[B, C, h, w]`` the model expects (resized, scaled, normalized with the model's own
    mean and std). :meth:`forward` maps that tensor to patch features ``[B, N, D]`` with
    ``N`` = :attr:`num_tokens` and ``D`` = :attr:`feature_dim`.

    A backbone with :attr:`condition_dim` ``> 0`` is *instruction-conditioned* (RT-1's FiLM
    EfficientNet): :meth:`forward` then also takes ``condition`` ``[B, condition_dim]``, a summary
    of the prompt that the VLA computes from the language model's token embeddings.
    """

    #: Width of the ``condition`` vector :meth:`forward` takes; ``0``: the backbone is unconditioned.
    condition_dim: int = 0

    @property
    @abstractmethod
    def feature_dim(self) -> int:
        """Feature width ``D`` of each output token."""

    @property
    @abstractmethod
    def num_tokens(self) -> int:
        """Number of output tokens ``N`` per image."""

    @abstractmethod
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``[B, H, W, 3]`` -> float ``[B, C, h, w]`` ready for :meth:`forward`."""

    @abstractmethod
    def forward(self, pixels: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Float ``[B, C, h, w]`` (and ``condition`` ``[B, condition_dim]`` when conditioned) ->
        features ``[B, N, D]``."""

    def auxiliary_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Extra training losses of the backbone's most recent :meth:`forward` (of the VLA's last
        camera), given the collator's ``batch`` (for instance ``anchor`` / ``has_anchor``).

        Returns ``{name: weighted scalar}``: the VLA adds each to its loss during training and logs
        it as ``train/NAME``. Default: none.
        """
        return {}


def point_l1(predicted: torch.Tensor, target: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between points (per coordinate, e.g. image fractions) over the rows with
    ``present``; 0 if none. ``predicted`` and ``target`` ``[B, 2]``, ``present`` bool ``[B]``.

    Rows without a target contribute a zero gradient rather than being dropped, so every process
    of a DDP run uses the same parameters.
    """
    per_row = F.l1_loss(predicted.float(), target.float(), reduction="none").mean(-1)
    return masked_row_mean(per_row, present)


def masked_row_mean(per_row: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Mean of a per-row loss ``[B]`` over the rows with ``present`` (bool ``[B]``); 0 if none.
    Rows without a target are weighted 0, not dropped, so their gradient is a zero that still
    reaches every parameter (DDP ranks agree)."""
    weight = present.to(per_row.device).float()
    return (per_row * weight).sum() / weight.sum().clamp(min=1.0)
