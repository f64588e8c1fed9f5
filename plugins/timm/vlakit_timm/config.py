"""Config model of the ``timm`` vision backbone (pydantic only: no torch import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from vlakit import ComponentConfig

#: A ViT small enough for tests and CPU smoke runs (64 px images, 64 patch tokens of width 64).
TINY_VIT: dict[str, Any] = {
    "model": "vit_tiny_patch16_224",
    "img_size": 64,
    "patch_size": 8,
    "embed_dim": 64,
    "depth": 2,
    "num_heads": 2,
}


class TimmConfig(ComponentConfig):
    """Any timm model as a patch-feature extractor; weights only from a local file.

    The defaults build a random ``vit_tiny_patch16_224``; :data:`TINY_VIT` is a much smaller one.
    Architecture fields left ``None`` keep the model's own values.
    """

    model: str = Field(TINY_VIT["model"], description="timm model name, e.g. vit_base_patch16_224, resnet50")
    pretrained: bool | None = Field(
        None, description="load pretrained_path (implied by giving it); true without a path is an error"
    )
    pretrained_path: str | None = Field(
        None, description="local weights file: .safetensors, or .pth/.bin (loaded with weights_only)"
    )
    strict: bool = Field(True, description="every weight in the model must be in the file")
    img_size: int | None = Field(None, ge=1, description="input size (ViT-style models)")
    patch_size: int | None = Field(None, ge=1, description="patch size (ViT-style models)")
    embed_dim: int | None = Field(None, ge=1, description="token width (ViT-style models)")
    depth: int | None = Field(None, ge=1, description="number of blocks (ViT-style models)")
    num_heads: int | None = Field(None, ge=1, description="attention heads (ViT-style models)")
    model_args: dict[str, Any] = Field(default_factory=dict, description="other keyword arguments of the model")
    freeze: bool = Field(False, description="no gradients, always in eval mode")
    sincos_pos_embed: bool = Field(
        False,
        description="ViT-style models: fixed 2-D sine-cosine position embeddings (as MAE) instead of "
        "learned ones, so patch coordinates are readable from the first step",
    )
    grad_checkpointing: bool = Field(
        False, description="recompute activations in the backward pass (less memory, more time)"
    )

    @model_validator(mode="after")
    def _check(self) -> TimmConfig:
        if self.pretrained and not self.pretrained_path:
            raise ValueError(
                "pretrained: true needs pretrained_path (a local weights file); vlakit never downloads weights"
            )
        if self.pretrained is False and self.pretrained_path:
            raise ValueError("pretrained is false but pretrained_path is set; drop one of them")
        clash = sorted(set(self.model_args) & {"img_size", "patch_size", "embed_dim", "depth", "num_heads"})
        if clash:
            raise ValueError(f"give {clash} as fields of their own, not in model_args")
        if "pretrained" in self.model_args or "num_classes" in self.model_args:
            raise ValueError("model_args may not set pretrained or num_classes")
        return self

    def without_weights(self) -> dict[str, Any] | None:
        """A bundle brings the backbone's weights: build it without reading ``pretrained_path``."""
        return {"pretrained": None, "pretrained_path": None} if self.pretrained_path else None

    def preflight(self) -> list[str]:
        """timm knows the model name; the weights file, if any, exists (it is not read)."""
        import difflib

        import timm

        problems = []
        arch = self.model.split(".", 1)[0]  # "name.pretrained_tag" names the same architecture
        if not timm.is_model(arch):
            guess = difflib.get_close_matches(arch, timm.list_models(), n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else " (see timm.list_models())"
            problems.append(f"model: timm has no model {self.model!r}{hint}")
        if self.pretrained_path and not Path(self.pretrained_path).expanduser().is_file():
            problems.append(f"pretrained_path: {self.pretrained_path} is not a file (a local weights file)")
        return problems

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``timm.create_model`` (classifier head removed)."""
        named = {
            "img_size": self.img_size,
            "patch_size": self.patch_size,
            "embed_dim": self.embed_dim,
            "depth": self.depth,
            "num_heads": self.num_heads,
        }
        kwargs = {k: v for k, v in named.items() if v is not None}
        kwargs.update(self.model_args)
        kwargs["num_classes"] = 0
        return kwargs
