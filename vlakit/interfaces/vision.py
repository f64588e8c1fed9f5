"""The vision backbone interface: images (+ typed conditioning) -> tokens and named outputs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Conditioning:
    """What a conditioned backbone may read besides the pixels, for ``B`` samples.

    ``prompt_embeds`` ``[B, T, E]``: the language model's embeddings of the prompt tokens (``E``
    its hidden size); ``prompt_mask`` ``[B, T]``: 1 on prompt tokens (any padding side);
    ``state_embeds`` ``[B, E]``: the VLA's projected robot state (its state token), ``None``
    when the VLA reads no state.
    """

    prompt_embeds: torch.Tensor
    prompt_mask: torch.Tensor
    state_embeds: torch.Tensor | None = None


@dataclass
class VisionOutput:
    """A backbone's answer for one camera: ``tokens`` ``[B, N, D]`` and named ``outputs`` (any
    tensors with a leading batch dimension ``B``, e.g. keypoint logits) that objectives may read;
    their names are the backbone's :attr:`~VisionBackbone.output_names`."""

    tokens: torch.Tensor
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)


class VisionBackbone(nn.Module, ABC):
    """A vision encoder that owns its preprocessing and keeps no state between calls.

    :meth:`preprocess` takes ``uint8`` images ``[B, H, W, 3]`` (any size) and returns the float
    tensor ``[B, C, h, w]`` the model expects (resized, scaled, normalized with the model's own
    mean and std). :meth:`forward` maps that tensor to a :class:`VisionOutput`: tokens ``[B, N, D]``
    with ``N`` = :attr:`num_tokens` and ``D`` = :attr:`feature_dim`, plus the named outputs listed
    in :attr:`output_names`. The VLA calls it once per camera; everything it returns depends only
    on its arguments.

    A *conditioned* backbone (one that reads the instruction, as RT-1's EfficientNet does) returns a module
    from :meth:`conditioner`: the VLA runs it once per batch on a :class:`Conditioning` and passes
    its result to :meth:`forward` as ``condition`` for every camera.
    """

    @property
    @abstractmethod
    def feature_dim(self) -> int:
        """Feature width ``D`` of each output token."""

    @property
    @abstractmethod
    def num_tokens(self) -> int:
        """Number of output tokens ``N`` per image."""

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the outputs :meth:`forward` returns besides the tokens. Default: none."""
        return ()

    @abstractmethod
    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``[B, H, W, 3]`` -> float ``[B, C, h, w]`` ready for :meth:`forward`."""

    @abstractmethod
    def forward(self, pixels: torch.Tensor, condition: torch.Tensor | None = None) -> VisionOutput:
        """Float ``[B, C, h, w]`` (and, for a conditioned backbone, ``condition``: its conditioner's
        output for these ``B`` samples) -> :class:`VisionOutput`."""

    def conditioner(self, width: int) -> nn.Module | None:
        """A new module that maps a :class:`Conditioning` (embeddings of width ``width``, the
        language model's hidden size) to the ``condition`` :meth:`forward` takes; ``None`` (the
        default) for a backbone that reads no conditioning. Called once when the VLA is composed;
        the VLA owns the module and trains it with the backbone."""
        return None
