"""The convnet's objectives: its keypoint logits and related points trained onto point targets."""

from __future__ import annotations

import math

import torch
from vlakit_convnet import KeypointMapConfig, RelatedPointConfig
from vlakit_convnet.backbone import KEYPOINT_LOGITS, RELATED_POINTS

from vlakit.interfaces import ModelInfo, ModelOutputs, Objective, masked_row_mean, point_l1


def bilinear_cell_weights(point: torch.Tensor, grid: int) -> torch.Tensor:
    """Points ``[B, 2]`` ((x, y) image fractions) -> weights ``[B, grid * grid]`` over the cells of a
    ``grid x grid`` map (row by row): the point spread bilinearly over the four cell centres
    around it (clamped at the border); each row sums to 1."""
    u = (point * grid - 0.5).clamp(0.0, grid - 1.0)  # [B, 2] in cell units, cell centres at integers
    low = u.floor().clamp(max=grid - 2 if grid > 1 else 0)
    frac = u - low
    low = low.long()
    weights = point.new_zeros(point.shape[0], grid * grid)
    for dx in (0, 1):
        for dy in (0, 1):
            wx = frac[:, 0] if dx else 1.0 - frac[:, 0]
            wy = frac[:, 1] if dy else 1.0 - frac[:, 1]
            cell = (low[:, 1] + dy).clamp(max=grid - 1) * grid + (low[:, 0] + dx).clamp(max=grid - 1)
            weights.scatter_add_(1, cell[:, None], (wx * wy)[:, None])
    return weights


class _PointTarget(Objective):
    """An objective on one point target (``config.target``), reading the outputs of the camera
    the target refers to."""

    def __init__(self, config: KeypointMapConfig | RelatedPointConfig) -> None:
        super().__init__()
        self.config = config
        self.targets = (config.target,)
        self.camera = ""

    def setup(self, model: ModelInfo) -> None:
        self.camera = model.camera_of(self.config.target)


class KeypointMap(_PointTarget):
    """``{target}_map_ce``: the cross-entropy between one channel's spatial softmax over the final
    cells (``keypoint_logits`` of the target's camera) and the point target spread bilinearly over
    the four cells around it; the mean over rows that have the target."""

    outputs = (KEYPOINT_LOGITS,)

    def forward(
        self, outputs: ModelOutputs, targets: dict[str, torch.Tensor], present: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        name = self.config.target
        maps = outputs.get(KEYPOINT_LOGITS, self.camera)
        if self.config.channel >= maps.shape[1]:
            raise ValueError(f"keypoint-map channel {self.config.channel}: the backbone has {maps.shape[1]} channels")
        logits = maps[:, self.config.channel].float()
        grid = math.isqrt(logits.shape[-1])
        point = targets[name].to(logits.device, torch.float32)
        weights = bilinear_cell_weights(point, grid)
        per_row = -(weights * torch.log_softmax(logits, dim=-1)).sum(-1)
        return {f"{name}_map_ce": masked_row_mean(per_row, present[name])}


class RelatedPoint(_PointTarget):
    """``{target}_l1``: the L1 distance (image fractions) between one related point of the target's
    camera and the point target, over the rows that have it."""

    outputs = (RELATED_POINTS,)

    def forward(
        self, outputs: ModelOutputs, targets: dict[str, torch.Tensor], present: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        name = self.config.target
        points = outputs.get(RELATED_POINTS, self.camera)
        if self.config.point >= points.shape[1]:
            raise ValueError(f"related-point point {self.config.point}: the backbone relates {points.shape[1]} points")
        point = points[:, self.config.point]
        target, mask = targets[name].to(point.device), present[name].to(point.device)
        return {f"{name}_l1": point_l1(point, target, mask)}
