"""The ``aim-point`` objective: a head on the image tokens predicts where the robot heads for."""

from __future__ import annotations

import torch
from torch import nn
from vlakit_tabletop.config import AimPointConfig

from vlakit.interfaces import IMAGE_TOKENS, ModelInfo, ModelOutputs, Objective, point_l1


class AimPoint(Objective):
    """An MLP over all image tokens ``[B, C * N, E]`` -> ``(x, y)`` ``[B, 2]`` (fractions of the
    target camera's image), trained with an L1 loss (``{target}_l1``) onto the point target.

    It makes the vision backbone locate the object the instruction names (embodied
    chain-of-thought trains the same skill through text). The policy never runs it.
    """

    outputs = (IMAGE_TOKENS,)

    def __init__(self, config: AimPointConfig) -> None:
        super().__init__()
        self.config = config
        self.targets = (config.target,)
        self.num_tokens = 0
        self.mlp: nn.Module | None = None

    def setup(self, model: ModelInfo) -> None:
        model.camera_of(self.config.target)  # the target names a camera the model sees
        self.num_tokens = model.image_tokens * len(model.cameras)
        width = model.token_width
        self.mlp = nn.Sequential(nn.Linear(self.num_tokens * width, width), nn.GELU(), nn.Linear(width, 2))

    def forward(
        self, outputs: ModelOutputs, targets: dict[str, torch.Tensor], present: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        tokens = outputs.image_tokens
        if self.mlp is None:
            raise RuntimeError("aim-point: call setup() with the model's shape first")
        if tokens.shape[1] != self.num_tokens:
            raise ValueError(f"aim-point reads {self.num_tokens} image tokens, got {tokens.shape[1]}")
        name = self.config.target
        return {f"{name}_l1": point_l1(self.mlp(tokens.flatten(1)), targets[name], present[name])}
