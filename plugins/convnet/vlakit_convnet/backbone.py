"""The ``convnet`` backbone: uint8 images -> tokens ``[B, N, C]``: ``N = (S/s)^2`` grid cells
(``s`` the product of the strides) or ``flat_tokens`` projections of the whole map."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from vlakit_convnet import ConvNetConfig

from vlakit import RecipeError
from vlakit.interfaces import VisionBackbone


class ConvNetBackbone(VisionBackbone):
    """Conv3x3-GroupNorm-GELU layers; tokens are the final feature map row by row (``grid``) or
    ``flat_tokens`` projections of the whole flattened map (``flat``)."""

    def __init__(self, config: ConvNetConfig) -> None:
        super().__init__()
        if len(config.channels) != len(config.strides):
            raise RecipeError("convnet: channels and strides need one entry per layer")
        if any(s not in (1, 2) for s in config.strides):
            raise RecipeError("convnet: strides are 1 or 2")
        self.config = config
        layers: list[nn.Module] = []
        width = 3 + (2 if config.coords else 0)
        for out, stride in zip(config.channels, config.strides):
            layers += [nn.Conv2d(width, out, 3, stride, 1), nn.GroupNorm(min(8, out), out), nn.GELU()]
            width = out
        self.body = nn.Sequential(*layers)
        self.grid = -(-config.img_size // math.prod(config.strides))
        cells = self.grid * self.grid
        if config.readout == "flat":
            self.pos = None
            self.flat = nn.Linear(cells * width, config.flat_tokens * width)
            self.norm = nn.LayerNorm(width)
        else:
            self.pos = nn.Parameter(torch.zeros(1, cells, width))
            nn.init.trunc_normal_(self.pos, std=0.02)
        self._width = width
        if config.freeze:
            self.requires_grad_(False)

    @property
    def feature_dim(self) -> int:
        return self._width

    @property
    def num_tokens(self) -> int:
        return self.config.flat_tokens if self.config.readout == "flat" else self.grid * self.grid

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``[B, H, W, 3]`` -> ``float32`` ``[B, 3 (+2), S, S]`` in ``[-1, 1]``."""
        if images.dim() != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected uint8 images [B, H, W, 3], got shape {tuple(images.shape)}")
        x = images.permute(0, 3, 1, 2).float() / 127.5 - 1.0
        size = self.config.img_size
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        if self.config.coords:
            ramp = torch.linspace(-1.0, 1.0, size, device=x.device)
            ys, xs = torch.meshgrid(ramp, ramp, indexing="ij")
            x = torch.cat([x, xs.expand(x.shape[0], 1, size, size), ys.expand(x.shape[0], 1, size, size)], 1)
        return x

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, C, S, S]`` -> ``[B, N, D]``."""
        feats = self.body(pixels.to(self.body[0].weight.dtype))
        if self.config.readout == "flat":
            tokens = self.flat(feats.flatten(1)).view(feats.shape[0], self.config.flat_tokens, self._width)
            return self.norm(tokens)
        return feats.flatten(2).transpose(1, 2) + self.pos

    def train(self, mode: bool = True) -> ConvNetBackbone:
        super().train(mode and not self.config.freeze)
        return self
