"""The objective interface: an auxiliary training loss over named targets and model outputs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vlakit.types import TargetSpec

#: The model output every composition with a separate vision backbone offers objectives: the
#: image tokens of all cameras in the language model's space (see :class:`ModelOutputs`).
IMAGE_TOKENS = "image_tokens"


@dataclass(frozen=True)
class ModelInfo:
    """What an objective learns about the composed model when it is set up.

    ``cameras``: the cameras in the order their tokens are laid out; ``image_tokens``: tokens per
    camera ``N``; ``token_width``: the language model's hidden size ``E``; ``outputs``: the model
    outputs that training forwards give (:data:`IMAGE_TOKENS` and the backbone's
    :attr:`~vlakit.interfaces.VisionBackbone.output_names`); ``targets``: the named targets the
    training data declares.
    """

    cameras: tuple[str, ...]
    image_tokens: int
    token_width: int
    outputs: tuple[str, ...] = ()
    targets: dict[str, TargetSpec] = field(default_factory=dict)

    def camera_of(self, target: str) -> str:
        """The camera an image-space target refers to (its spec's, else the first camera)."""
        spec = self.targets.get(target)
        camera = spec.camera if spec is not None and spec.camera is not None else self.cameras[0]
        if camera not in self.cameras:
            raise ValueError(f"target {target!r} refers to camera {camera!r}; the model sees {list(self.cameras)}")
        return camera


@dataclass
class ModelOutputs:
    """What one training forward gives objectives for a batch of ``B`` samples.

    ``image_tokens`` ``[B, C * N, E]``: every camera's image tokens after the projector (cameras
    in :attr:`ModelInfo.cameras` order); ``vision``: per camera, the backbone's named outputs.
    """

    image_tokens: torch.Tensor
    vision: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def get(self, name: str, camera: str) -> torch.Tensor:
        """The model output ``name`` of ``camera`` (:data:`IMAGE_TOKENS`: all cameras')."""
        if name == IMAGE_TOKENS:
            return self.image_tokens
        try:
            return self.vision[camera][name]
        except KeyError:
            raise KeyError(f"no model output {name!r} for camera {camera!r}") from None


class Objective(nn.Module, ABC):
    """An auxiliary training loss, added to the next-token loss with the recipe's weight.

    It declares the :attr:`targets` it reads (names of :attr:`vlakit.Sample.targets`) and the
    model :attr:`outputs` (:data:`IMAGE_TOKENS` or names of the vision backbone's outputs); the
    composer refuses a recipe whose model does not give those outputs. It may own parameters
    (a prediction head): they are created in :meth:`setup`, trained with the model, and left out
    of the exported bundle (the policy never runs an objective).
    """

    #: names of the targets :meth:`forward` reads
    targets: tuple[str, ...] = ()
    #: names of the model outputs :meth:`forward` reads
    outputs: tuple[str, ...] = ()

    def setup(self, model: ModelInfo) -> None:
        """Called once when the model is composed, before training: create parameters that
        depend on the model's shape here. Default: nothing."""

    @abstractmethod
    def forward(
        self, outputs: ModelOutputs, targets: dict[str, torch.Tensor], present: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """The batch's model ``outputs``, its ``targets`` {name: ``[B, *shape]``} and ``present``
        {name: bool ``[B]``} -> named scalar losses (unweighted). Rows without a target add a zero
        gradient rather than being dropped, so every process of a DDP run uses every parameter."""


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
