"""The ``timm`` vision backbone: a timm model's patch tokens as features."""

from __future__ import annotations

import difflib
import os
from typing import Any

import torch
import torch.nn.functional as F
from vlakit_timm.config import TimmConfig

from vlakit import RecipeError
from vlakit.interfaces.vision import VisionBackbone, VisionOutput


def create_model(settings: TimmConfig) -> torch.nn.Module:
    """``timm.create_model`` without a classifier, weights only from ``pretrained_path``."""
    import timm

    if not timm.is_model(settings.model):
        guess = difflib.get_close_matches(settings.model, timm.list_models(), n=3)
        hint = f"; did you mean {', '.join(guess)}?" if guess else ""
        raise RecipeError(f"timm has no model {settings.model!r}{hint}")
    kwargs: dict[str, Any] = settings.model_kwargs()
    path = settings.pretrained_path
    if path:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise RecipeError(f"pretrained_path {settings.pretrained_path!r} is not a file")
        # timm's own local-file route: no hub access, torch.load(weights_only=True) or safetensors,
        # and the model's checkpoint filter (e.g. position embeddings resampled to img_size).
        kwargs["pretrained_cfg_overlay"] = {"file": os.path.abspath(path), "custom_load": False}
        kwargs["pretrained_strict"] = settings.strict
    try:
        return timm.create_model(settings.model, pretrained=bool(path), **kwargs)
    except TypeError as err:
        raise RecipeError(f"timm model {settings.model!r} does not take these options: {err}") from err


def input_size(model: torch.nn.Module, settings: TimmConfig) -> tuple[int, int]:
    """The ``(h, w)`` the model expects: its patch embedding's size, else its data config."""
    patch_embed = getattr(model, "patch_embed", None)
    size = getattr(patch_embed, "img_size", None)
    if size is not None:
        return (int(size[0]), int(size[1])) if isinstance(size, (tuple, list)) else (int(size), int(size))
    if settings.img_size is not None:
        return settings.img_size, settings.img_size
    import timm.data

    _, h, w = timm.data.resolve_model_data_config(model)["input_size"]
    return int(h), int(w)


def sincos_2d(height: int, width: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine embeddings ``[height * width, dim]`` (half the channels per axis)."""
    if dim % 4:
        raise ValueError(f"sincos position embeddings need a width divisible by 4, got {dim}")
    quarter = dim // 4
    freqs = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter))
    ys, xs = torch.meshgrid(torch.arange(height, dtype=torch.float64), torch.arange(width, dtype=torch.float64), indexing="ij")
    parts = []
    for coord in (ys.reshape(-1), xs.reshape(-1)):
        angles = coord[:, None] * freqs[None, :]
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1).float()


def fix_sincos_pos_embed(model: torch.nn.Module, num_prefix_tokens: int) -> None:
    """Overwrite a ViT's learned ``pos_embed`` with fixed 2-D sine-cosine values (frozen)."""
    pos = getattr(model, "pos_embed", None)
    grid = getattr(getattr(model, "patch_embed", None), "grid_size", None)
    if pos is None or grid is None:
        raise ValueError(f"{type(model).__name__} has no ViT position embedding to replace")
    table = sincos_2d(int(grid[0]), int(grid[1]), pos.shape[-1])
    with torch.no_grad():
        pos.zero_()
        pos[0, pos.shape[1] - table.shape[0] :] = table.to(pos.dtype)
    pos.requires_grad_(False)


class TimmBackbone(VisionBackbone):
    """Patch tokens ``[B, N, D]`` of any timm model.

    Transformers: ``forward_features`` without the class / register (prefix) tokens. CNNs: the
    final feature map ``[B, D, h, w]`` flattened to ``h * w`` tokens. Preprocessing resizes the
    whole image (no crop) to the model's input size and normalizes with its mean and std.
    """

    def __init__(self, settings: TimmConfig) -> None:
        super().__init__()
        import timm.data

        self.settings = settings
        self.model = create_model(settings)
        data = timm.data.resolve_model_data_config(self.model)
        self.image_size = input_size(self.model, settings)
        self.interpolation = "bicubic" if data.get("interpolation") == "bicubic" else "bilinear"
        self.register_buffer("mean", torch.tensor(data["mean"], dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(data["std"], dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.num_prefix_tokens = int(getattr(self.model, "num_prefix_tokens", 0) or 0)
        self.channels_last_output = getattr(self.model, "output_fmt", "NCHW") == "NHWC"
        if settings.grad_checkpointing:
            self.model.set_grad_checkpointing(True)
        if settings.sincos_pos_embed:
            fix_sincos_pos_embed(self.model, self.num_prefix_tokens)
        self._num_tokens, self._feature_dim = self._probe()
        if settings.freeze:
            self.model.requires_grad_(False)
            self.model.eval()

    @torch.no_grad()
    def _probe(self) -> tuple[int, int]:
        """Output ``(N, D)`` from one forward pass on a blank image."""
        was_training = self.model.training
        self.model.eval()
        dtype = next(self.model.parameters()).dtype
        feats = self.features(torch.zeros(1, 3, *self.image_size, dtype=dtype))
        self.model.train(was_training)
        return int(feats.shape[1]), int(feats.shape[2])

    @property
    def feature_dim(self) -> int:
        return self._feature_dim

    @property
    def num_tokens(self) -> int:
        return self._num_tokens

    def train(self, mode: bool = True) -> TimmBackbone:
        """A frozen backbone stays in eval mode (fixed batch-norm statistics, no dropout)."""
        super().train(mode)
        if self.settings.freeze:
            self.model.eval()
        return self

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``[B, H, W, 3]`` -> ``float32`` ``[B, 3, h, w]`` resized and normalized."""
        if images.dim() != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected uint8 images [B, H, W, 3], got shape {tuple(images.shape)}")
        x = images.permute(0, 3, 1, 2).float()
        if tuple(x.shape[-2:]) != self.image_size:
            x = F.interpolate(x, size=self.image_size, mode=self.interpolation, align_corners=False, antialias=True)
            x = x.clamp(0.0, 255.0)
        return (x / 255.0 - self.mean) / self.std

    def forward(self, pixels: torch.Tensor, condition: torch.Tensor | None = None) -> VisionOutput:
        """``[B, 3, h, w]`` -> patch features ``[B, N, D]`` (no named outputs; no conditioning)."""
        if condition is not None:
            raise ValueError("the timm backbone takes no condition")
        return VisionOutput(self.features(pixels))

    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """``[B, 3, h, w]`` -> patch features ``[B, N, D]``."""
        feats = self.model.forward_features(pixels.to(next(self.model.parameters()).dtype))
        if feats.dim() == 4:
            if not self.channels_last_output:
                feats = feats.permute(0, 2, 3, 1)
            return feats.flatten(1, 2)
        if feats.dim() != 3:
            raise RuntimeError(f"unexpected feature shape {tuple(feats.shape)} from {self.settings.model}")
        return feats[:, self.num_prefix_tokens :]
