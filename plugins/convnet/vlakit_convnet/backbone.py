"""The ``convnet`` backbone: uint8 images -> tokens ``[B, N, C]``: ``N = (S/s)^2`` grid cells
(``s`` the product of the strides) or ``flat_tokens`` projections of the whole map."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from vlakit_convnet import ConvNetConfig

from vlakit.interfaces import VisionBackbone, masked_row_mean, point_l1


class ConvNetBackbone(VisionBackbone):
    """Conv3x3-GroupNorm-(FiLM)-GELU layers; tokens are the final feature map row by row
    (``grid``) or ``flat_tokens`` projections of the whole flattened map (``flat``).

    With ``film_dim > 0`` :meth:`forward` takes ``condition`` ``[B, film_dim]``; each layer's
    normalized features become ``x * (1 + gamma) + beta`` with per-channel ``gamma, beta``
    predicted from it (default initialization: the instruction modulates the features from the
    first step, so training does not settle first on an instruction-blind solution).
    """

    def __init__(self, config: ConvNetConfig) -> None:
        super().__init__()
        self.config = config
        self.condition_dim = config.film_dim
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.films = nn.ModuleList()
        width = 3 + (2 if config.coords else 0)
        dilations = config.dilations or [1] * len(config.strides)
        last = len(config.strides) - 1
        for i, (out, stride, dilation) in enumerate(zip(config.channels, config.strides, dilations)):
            extra = config.relate if i == last else 0  # distance maps to the related points
            self.convs.append(nn.Conv2d(width + extra, out, 3, stride, padding=dilation, dilation=dilation))
            self.norms.append(nn.GroupNorm(min(8, out), out))
            if config.film_dim:
                self.films.append(nn.Linear(config.film_dim, 2 * out))
            width = out
        self.grid = -(-config.img_size // math.prod(config.strides))
        if config.relate:
            self.relate_log_sharpness = nn.Parameter(torch.zeros(config.relate))
        #: relate_query: condition -> one query per related point over the next-to-last layer's channels
        self.relate_queries = (
            nn.Linear(config.film_dim, config.relate * config.channels[-2]) if config.relate_query else None
        )
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
        #: [B, relate, 2] image fractions of the last forward (kept when relate_anchor or relate_aim reads them)
        self.related_points: torch.Tensor | None = None
        #: the object head reads the next-to-last layer's channels from this one on: not those the
        #: related points are read from, so it does not pull on their spatial softmax
        self._object_channel = 0 if config.relate_query else config.relate
        #: object head: those channels at an object's centre -> logits of every attribute
        self.object_head = (
            nn.Linear(config.channels[-2] - self._object_channel, sum(config.object_classes))
            if config.object_loss
            else None
        )
        #: [B, h*w] the first channel's keypoint logits of the last forward (kept with aim_map)
        self.aim_logits: torch.Tensor | None = None
        #: [B, C', h, w] those channels of the last forward (kept for the object head)
        self.object_features: torch.Tensor | None = None
        if config.freeze:
            self.requires_grad_(False)

    @property
    def feature_dim(self) -> int:
        return self._width

    @property
    def num_tokens(self) -> int:
        return self.grid * self.grid if self.config.readout == "grid" else self.config.flat_tokens

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

    def forward(self, pixels: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """``[B, C, S, S]`` (and ``condition`` ``[B, film_dim]`` when FiLM is on) -> ``[B, N, D]``."""
        if (condition is None) != (not self.condition_dim):
            raise ValueError(
                f"convnet with film_dim={self.condition_dim} needs a condition [B, {self.condition_dim}]"
                if condition is None
                else "convnet without FiLM (film_dim 0) takes no condition"
            )
        feats = pixels.to(self.convs[0].weight.dtype)
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            if i == last and self.object_head is not None:
                self.object_features = feats[:, self._object_channel :]
            if i == last and self.config.relate:
                feats = torch.cat([feats, self.distance_maps(feats, condition)], dim=1)
            feats = norm(conv(feats))
            if condition is not None:
                gamma, beta = self.films[i](condition.to(feats.dtype)).chunk(2, dim=-1)
                feats = feats * (1.0 + gamma[..., None, None]) + beta[..., None, None]
            feats = F.gelu(feats)
        if self.config.readout == "grid":
            return feats.flatten(2).transpose(1, 2) + self.pos
        if self.config.readout == "flat":
            summary = feats.flatten(1)
        else:  # keypoints: where each channel fires (spatial softmax) and how much
            cells = feats.flatten(2)  # [B, C, h*w]
            sharp = cells * self.log_sharpness.exp()[:, None].to(cells.dtype)
            if self.config.aim_map:
                self.aim_logits = sharp[:, 0]
            where = torch.softmax(sharp, dim=-1) @ self.cell_xy.to(cells.dtype)  # [B, C, 2] in [-1, 1]
            summary = torch.cat([where.flatten(1), cells.mean(-1)], dim=1)
        tokens = self.flat(summary).view(feats.shape[0], self.config.flat_tokens, self._width)
        return self.norm(tokens)

    def distance_maps(self, feats: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Relational feedback: features ``[B, C, h, w]`` -> ``[B, relate, h, w]``, each cell's
        distance (in units of the half map side) to a related point: the spatial-softmax point
        (learned sharpness) of one of the first ``relate`` channels, or with ``relate_query`` of
        the dot product of each cell's features with a query predicted from ``condition``
        ``[B, film_dim]``."""
        b, c, h, w = feats.shape
        k = self.config.relate
        ys, xs = torch.meshgrid(
            torch.linspace(-1.0, 1.0, h, device=feats.device, dtype=feats.dtype),
            torch.linspace(-1.0, 1.0, w, device=feats.device, dtype=feats.dtype),
            indexing="ij",
        )
        cells = torch.stack([xs.flatten(), ys.flatten()], 1)  # [h*w, 2]
        if self.relate_queries is not None:
            queries = self.relate_queries(condition.to(feats.dtype)).view(b, k, c)
            scores = queries @ feats.flatten(2)  # [B, k, h*w]
        else:
            scores = feats[:, :k].flatten(2)
        logits = scores * self.relate_log_sharpness.exp()[:, None].to(feats.dtype)
        points = torch.softmax(logits, dim=-1) @ cells  # [B, k, 2]
        if self._point_losses():  # kept for auxiliary_losses only
            size = torch.tensor([w, h], device=feats.device, dtype=points.dtype)
            self.related_points = ((points + 1.0) * (size - 1) / 2.0 + 0.5) / size  # cell centres -> fractions
        gap = cells[None, None] - points[:, :, None]  # [B, k, h*w, 2]
        return (gap.square().sum(-1) + 1e-6).sqrt().view(b, k, h, w)

    def auxiliary_losses(self, batch: dict) -> dict[str, torch.Tensor]:
        """Point losses on the related points of the last forward (image fractions), over the rows
        that have the target (others add a zero gradient, so DDP ranks all use the same
        parameters): with ``relate_anchor``, ``"anchor_l1"``: weight * L1 between the first point
        and ``batch["anchor"]``; with ``relate_aim``, ``"aim_point_l1"``: weight * L1 between the
        second point and ``batch["aim"]``; with ``aim_map``, ``"aim_map_ce"``: weight *
        :meth:`aim_map_loss`; with ``object_loss``, ``"object_ce"``: weight *
        :meth:`object_loss`."""
        losses = {}
        if self.aim_logits is not None and "aim" in batch:
            losses["aim_map_ce"] = self.config.aim_map * self.aim_map_loss(batch)
        if self.object_head is not None and self.object_features is not None:
            losses["object_ce"] = self.config.object_loss * self.object_loss(batch)
        if self.related_points is None:
            return losses
        for name, index, weight, field in self._point_losses():
            if field in batch:
                point = self.related_points[:, index]
                target, mask = batch[field].to(point.device), batch[f"has_{field}"].to(point.device)
                losses[name] = weight * point_l1(point, target, mask)
        return losses

    def aim_map_loss(self, batch: dict) -> torch.Tensor:
        """Cross-entropy between the last forward's first-channel spatial softmax over the final
        ``grid x grid`` cells and ``batch["aim"]`` ``[B, 2]`` (image fractions) spread bilinearly
        over the four cells around it; the mean over rows with ``batch["has_aim"]`` (others add a
        zero gradient, so DDP ranks agree)."""
        logits = self.aim_logits.float()
        aim = batch["aim"].to(logits.device, torch.float32)
        g = self.grid
        u = (aim * g - 0.5).clamp(0.0, g - 1.0)  # [B, 2] in cell units, cell centres at integers
        low = u.floor().clamp(max=g - 2 if g > 1 else 0)
        frac = u - low
        low = low.long()
        target = logits.new_zeros(logits.shape)
        for dx in (0, 1):
            for dy in (0, 1):
                wx = frac[:, 0] if dx else 1.0 - frac[:, 0]
                wy = frac[:, 1] if dy else 1.0 - frac[:, 1]
                cell = (low[:, 1] + dy).clamp(max=g - 1) * g + (low[:, 0] + dx).clamp(max=g - 1)
                target.scatter_add_(1, cell[:, None], (wx * wy)[:, None])
        per_row = -(target * torch.log_softmax(logits, dim=-1)).sum(-1)
        return masked_row_mean(per_row, batch["has_aim"])

    def object_loss(self, batch: dict) -> torch.Tensor:
        """Mean cross-entropy of the object head over the labelled objects and attributes of
        ``batch["objects"]`` ``[B, K, 2]`` (image fractions) / ``batch["object_classes"]``
        ``[B, K, A]`` (-1: none), read from the last forward's next-to-last layer (bilinear at each
        centre); a zero that still reaches the head when the batch has no objects (DDP ranks agree)."""
        feats, head = self.object_features, self.object_head
        if "objects" not in batch:
            return 0.0 * sum(p.sum() for p in head.parameters())
        classes = batch["object_classes"].to(feats.device)
        counts = self.config.object_classes
        if classes.shape[-1] != len(counts):
            raise ValueError(
                f"convnet object_classes names {len(counts)} attributes ({counts}); the data gives "
                f"{classes.shape[-1]} per object"
            )
        grid = batch["objects"].to(feats.device, feats.dtype)[:, :, None] * 2.0 - 1.0  # [B, K, 1, 2]
        at = F.grid_sample(feats, grid, align_corners=False).squeeze(-1).transpose(1, 2)  # [B, K, C]
        logits = head(at).split(counts, dim=-1)
        total, labelled = feats.new_zeros(()), classes.new_zeros(())
        for a, (attribute, n) in enumerate(zip(logits, counts)):
            target = classes[..., a]
            if (target >= n).any():
                raise ValueError(
                    f"object class {int(target.max())} of attribute {a} is out of range (object_classes[{a}] = {n})"
                )
            per_object = attribute.reshape(-1, n).float()
            total = total + F.cross_entropy(per_object, target.reshape(-1), ignore_index=-1, reduction="sum")
            labelled = labelled + (target >= 0).sum()
        return total / labelled.clamp(min=1)

    def _point_losses(self) -> list[tuple[str, int, float, str]]:
        """The point losses switched on: ``(loss name, related point index, weight, batch field)``."""
        losses = (
            ("anchor_l1", 0, self.config.relate_anchor, "anchor"),
            ("aim_point_l1", 1, self.config.relate_aim, "aim"),
        )
        return [loss for loss in losses if loss[2]]

    def train(self, mode: bool = True) -> ConvNetBackbone:
        super().train(mode and not self.config.freeze)
        return self
