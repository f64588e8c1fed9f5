"""The ``convnet`` backbone: uint8 images -> tokens ``[B, N, C]``: ``N = (S/s)^2`` grid cells
(``s`` the product of the strides) or ``flat_tokens`` projections of the whole map."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from vlakit_convnet import ConvNetConfig

from vlakit.interfaces import VisionBackbone, VisionOutput

#: output names: the keypoints readout's per-channel spatial logits, the related points
KEYPOINT_LOGITS = "keypoint_logits"
RELATED_POINTS = "related_points"


class ConvNetBackbone(VisionBackbone):
    """Conv3x3-GroupNorm-(FiLM)-GELU layers; tokens are the final feature map row by row
    (``grid``) or ``flat_tokens`` projections of the whole flattened map (``flat``, ``keypoints``).

    With ``film_dim > 0`` :meth:`forward` takes ``condition`` ``[B, film_dim]`` (the output of its
    :meth:`conditioner`, an instruction encoder); each layer's normalized features become
    ``x * (1 + gamma) + beta`` with per-channel ``gamma, beta`` predicted from it (default
    initialization: the instruction modulates the features from the first step, so training
    does not settle first on an instruction-blind solution).

    Named outputs: ``keypoint_logits`` ``[B, C, h * w]`` (keypoints readout: each last-layer
    channel's map over the final ``h x w`` cells, row by row, before its activation, times the
    channel's learned sharpness: the logits of a spatial softmax an objective can train; the
    readout's own softmax reads the map after the activation) and
    ``related_points`` ``[B, relate, 2]`` (with ``relate``: the related points as (x, y)
    fractions of the image).
    """

    def __init__(self, config: ConvNetConfig) -> None:
        super().__init__()
        self.config = config
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.films = nn.ModuleList()
        width = 3 + (2 if config.coords else 0)
        last = len(config.strides) - 1
        for i, (out, stride) in enumerate(zip(config.channels, config.strides)):
            extra = config.relate if i == last else 0  # distance maps to the related points
            self.convs.append(nn.Conv2d(width + extra, out, 3, stride, padding=1))
            self.norms.append(nn.GroupNorm(min(8, out), out))
            if config.film_dim:
                self.films.append(nn.Linear(config.film_dim, 2 * out))
            width = out
        self.grid = -(-config.img_size // math.prod(config.strides))
        if config.relate:
            self.relate_log_sharpness = nn.Parameter(torch.zeros(config.relate))
        cells = self.grid * self.grid
        if config.readout == "flat":
            self.pos = None
            self.flat = nn.Linear(cells * width, config.flat_tokens * width)
            self.norm = nn.LayerNorm(width)
        elif config.readout == "keypoints":
            self.pos = None
            ramp = torch.linspace(-1.0, 1.0, self.grid)
            ys, xs = torch.meshgrid(ramp, ramp, indexing="ij")
            self.register_buffer("cell_xy", torch.stack([xs.flatten(), ys.flatten()], 1), persistent=False)
            self.log_sharpness = nn.Parameter(torch.zeros(width))  # learned softmax temperature per channel
            self.flat = nn.Linear(3 * width, config.flat_tokens * width)
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
        return self.grid * self.grid if self.config.readout == "grid" else self.config.flat_tokens

    @property
    def output_names(self) -> tuple[str, ...]:
        names = (KEYPOINT_LOGITS,) if self.config.readout == "keypoints" else ()
        return names + ((RELATED_POINTS,) if self.config.relate else ())

    def conditioner(self, width: int) -> nn.Module | None:
        """With ``film_dim``: an instruction encoder from the prompt (and the state) to the FiLM
        condition ``[B, film_dim]``."""
        if not self.config.film_dim:
            return None
        from vlakit_convnet.condition import InstructionEncoder

        encoder = InstructionEncoder(width, self.config.film_dim)
        if self.config.freeze:
            encoder.requires_grad_(False)
        return encoder

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

    def forward(self, pixels: torch.Tensor, condition: torch.Tensor | None = None) -> VisionOutput:
        """``[B, C, S, S]`` (and ``condition`` ``[B, film_dim]`` when FiLM is on) -> tokens
        ``[B, N, D]`` and the named outputs."""
        if (condition is None) != (not self.config.film_dim):
            raise ValueError(
                f"convnet with film_dim={self.config.film_dim} needs a condition [B, {self.config.film_dim}]"
                if condition is None
                else "convnet without FiLM (film_dim 0) takes no condition"
            )
        outputs: dict[str, torch.Tensor] = {}
        feats = pixels.to(self.convs[0].weight.dtype)
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if i == last and self.config.relate:
                maps, outputs[RELATED_POINTS] = self.distance_maps(feats)
                feats = torch.cat([feats, maps], dim=1)
            feats = norm(conv(feats))
            if condition is not None:
                gamma, beta = self.films[i](condition.to(feats.dtype)).chunk(2, dim=-1)
                feats = feats * (1.0 + gamma[..., None, None]) + beta[..., None, None]
            if i == last:
                before_activation = feats
            feats = F.gelu(feats)
        if self.config.readout == "grid":
            return VisionOutput(feats.flatten(2).transpose(1, 2) + self.pos, outputs)
        if self.config.readout == "flat":
            summary = feats.flatten(1)
        else:  # keypoints: where each channel fires (spatial softmax) and how much
            cells = feats.flatten(2)  # [B, C, h*w]
            sharpness = self.log_sharpness.exp()[:, None].to(cells.dtype)
            # what objectives train: the maps before the activation, where GELU cannot flatten
            # a channel (a channel negative everywhere would give them no gradient)
            outputs[KEYPOINT_LOGITS] = before_activation.flatten(2) * sharpness
            where = torch.softmax(cells * sharpness, dim=-1) @ self.cell_xy.to(cells.dtype)  # [B, C, 2] in [-1, 1]
            summary = torch.cat([where.flatten(1), cells.mean(-1)], dim=1)
        tokens = self.flat(summary).view(feats.shape[0], self.config.flat_tokens, self._width)
        return VisionOutput(self.norm(tokens), outputs)

    def distance_maps(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Relational feedback: features ``[B, C, h, w]`` -> each cell's distance (in units of the
        half map side) to each related point, ``[B, relate, h, w]``, and the related points as
        (x, y) image fractions ``[B, relate, 2]``. A related point is the spatial-softmax point
        (learned sharpness) of one of the first ``relate`` channels."""
        b, c, h, w = feats.shape
        k = self.config.relate
        ys, xs = torch.meshgrid(
            torch.linspace(-1.0, 1.0, h, device=feats.device, dtype=feats.dtype),
            torch.linspace(-1.0, 1.0, w, device=feats.device, dtype=feats.dtype),
            indexing="ij",
        )
        cells = torch.stack([xs.flatten(), ys.flatten()], 1)  # [h*w, 2]
        logits = feats[:, :k].flatten(2) * self.relate_log_sharpness.exp()[:, None].to(feats.dtype)
        points = torch.softmax(logits, dim=-1) @ cells  # [B, k, 2]
        size = torch.tensor([w, h], device=feats.device, dtype=points.dtype)
        fractions = ((points + 1.0) * (size - 1) / 2.0 + 0.5) / size  # cell centres -> fractions
        gap = cells[None, None] - points[:, :, None]  # [B, k, h*w, 2]
        return (gap.square().sum(-1) + 1e-6).sqrt().view(b, k, h, w), fractions

    def train(self, mode: bool = True) -> ConvNetBackbone:
        super().train(mode and not self.config.freeze)
        return self
