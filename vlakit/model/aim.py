"""The auxiliary aim head: image tokens -> the point the robot is heading for."""

from __future__ import annotations

import torch
from torch import nn


class AimHead(nn.Module):
    """An MLP over all image tokens ``[B, N, E]`` -> ``(x, y)`` ``[B, 2]`` (fractions of the image).

    Trained with :func:`~vlakit.interfaces.vision.point_l1` next to the action loss, it makes the
    vision backbone locate the object the instruction names (embodied chain-of-thought trains the
    same skill through text).
    The policy never reads its output.
    """

    def __init__(self, num_tokens: int, width: int) -> None:
        super().__init__()
        self.num_tokens = num_tokens
        self.mlp = nn.Sequential(nn.Linear(num_tokens * width, width), nn.GELU(), nn.Linear(width, 2))

    def forward(self, image_tokens: torch.Tensor) -> torch.Tensor:
        if image_tokens.shape[1] != self.num_tokens:
            raise ValueError(f"the aim head reads {self.num_tokens} image tokens, got {image_tokens.shape[1]}")
        return self.mlp(image_tokens.flatten(1))
