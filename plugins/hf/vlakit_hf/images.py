"""Image preprocessing in torch, following a transformers image processor's settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _size(size: Any, key: str) -> int | None:
    """``size[key]`` for a dict or a transformers SizeDict (``None`` when absent)."""
    value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
    return int(value) if value is not None else None


@dataclass(frozen=True)
class ImageSpec:
    """How to turn ``uint8`` images into the pixels a vision tower expects.

    With ``shortest_edge`` the image is resized so its shorter side has that length, then
    center-cropped to ``height`` x ``width`` (CLIP); otherwise it is resized to ``height`` x
    ``width`` directly (SigLIP). Then scaled by ``rescale`` and normalized with ``mean``/``std``.
    """

    height: int
    width: int
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    shortest_edge: int | None = None
    rescale: float = 1.0 / 255.0
    interpolation: str = "bicubic"

    @classmethod
    def from_processor(cls, processor: Any) -> ImageSpec:
        """The spec of a transformers image processor (CLIP-, SigLIP-style)."""
        size = processor.size
        edge = _size(size, "shortest_edge")
        crop = getattr(processor, "crop_size", None)
        if edge is not None:
            if getattr(processor, "do_center_crop", False) and crop is not None:
                height, width = _size(crop, "height"), _size(crop, "width")
            else:
                height = width = edge
                edge = None
        else:
            height, width = _size(size, "height"), _size(size, "width")
        if height is None or width is None:
            raise ValueError(f"cannot read an output image size from {type(processor).__name__} (size={size})")
        resample = getattr(processor, "resample", 3)
        return cls(
            height=height,
            width=width,
            mean=tuple(float(x) for x in processor.image_mean),
            std=tuple(float(x) for x in processor.image_std),
            shortest_edge=edge,
            rescale=float(getattr(processor, "rescale_factor", 1.0 / 255.0) or 1.0 / 255.0),
            interpolation="bilinear" if int(getattr(resample, "value", resample) or 3) == 2 else "bicubic",
        )

    @classmethod
    def from_vision_config(cls, config: Any) -> ImageSpec:
        """A square spec at the vision tower's ``image_size`` (CLIP statistics; 0.5 for SigLIP)."""
        size = int(config.image_size)
        if "siglip" in str(getattr(config, "model_type", "")):
            return cls(height=size, width=size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        return cls(height=size, width=size, shortest_edge=size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageSpec:
        return cls(**{**data, "mean": tuple(data["mean"]), "std": tuple(data["std"])})


def preprocess_images(images: torch.Tensor, spec: ImageSpec) -> torch.Tensor:
    """``uint8`` ``[B, H, W, 3]`` -> ``float32`` ``[B, 3, height, width]``, normalized."""
    if images.dim() != 4 or images.shape[-1] != 3:
        raise ValueError(f"expected uint8 images [B, H, W, 3], got shape {tuple(images.shape)}")
    x = images.permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    if spec.shortest_edge is not None:
        scale = spec.shortest_edge / min(h, w)
        size = (max(spec.height, round(h * scale)), max(spec.width, round(w * scale)))
    else:
        size = (spec.height, spec.width)
    if (h, w) != size:
        x = F.interpolate(x, size=size, mode=spec.interpolation, align_corners=False, antialias=True)
        x = x.clamp(0.0, 255.0)
    if size != (spec.height, spec.width):
        top = (size[0] - spec.height) // 2
        left = (size[1] - spec.width) // 2
        x = x[:, :, top : top + spec.height, left : left + spec.width]
    mean = torch.tensor(spec.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=x.device).view(1, 3, 1, 1)
    return (x * spec.rescale - mean) / std
