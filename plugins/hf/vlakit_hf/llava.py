"""The ``llava`` language model: LLaVA's vision tower, projector and LM behind one LanguageModel."""

from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn
from vlakit_hf.config import LlavaSettings, LoraSettings
from vlakit_hf.images import ImageSpec, preprocess_images
from vlakit_hf.lora import lora_targets
from vlakit_hf.model import HFLanguageModel

from vlakit import RecipeError

IMAGE_SPEC = "image_preprocess.json"
IMAGE_TOKEN = "<image>"


def build_llava_parts(settings: LlavaSettings) -> tuple[Any, Any, ImageSpec, dict[str, Any]]:
    """``(model, tokenizer, image_spec, source)`` from a local directory or an inline LlavaConfig."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageTextToText, LlavaConfig
    from vlakit_hf.loading import (
        fill_token_config,
        inline_tokenizer,
        load_tokenizer,
        local_dir,
        pretrained_kwargs,
    )

    kwargs = pretrained_kwargs(settings)
    inline = settings.inline_config()
    if inline is None:
        path = local_dir(settings.path or "")
        model_type = AutoConfig.from_pretrained(path, local_files_only=True).model_type
        if model_type != "llava":
            raise RecipeError(f"{path} holds a {model_type!r} model; the llava plugin loads model_type 'llava'")
        from transformers import LlavaForConditionalGeneration

        model = LlavaForConditionalGeneration.from_pretrained(path, local_files_only=True, **kwargs)
        spec = ImageSpec.from_processor(AutoImageProcessor.from_pretrained(path, local_files_only=True))
        return model, load_tokenizer(path), spec, {"path": path}
    tokenizer = inline_tokenizer(settings, [IMAGE_TOKEN])
    inline["text_config"] = fill_token_config(dict(inline.get("text_config") or {}), tokenizer)
    inline.setdefault("image_token_id", tokenizer.convert_tokens_to_ids(IMAGE_TOKEN))
    try:
        config = LlavaConfig(**inline)
    except (TypeError, ValueError, KeyError) as err:
        raise RecipeError(f"inline llava config: {err}") from err
    model = AutoModelForImageTextToText.from_config(config, **kwargs)
    return model, tokenizer, ImageSpec.from_vision_config(config.vision_config), {"config": inline}


class LlavaLanguageModel(HFLanguageModel):
    """A transformers ``LlavaForConditionalGeneration`` that fills the vision and language slots.

    Images go through :meth:`image_preprocess` and :meth:`image_embeddings` (vision tower, LLaVA's
    feature layer selection, multi-modal projector); the result is an image prefix in the LM's
    embedding space. LoRA adapts only the language model's linear layers.
    """

    settings: LlavaSettings

    def __init__(
        self, model: nn.Module, tokenizer: Any, settings: LlavaSettings, source: dict[str, Any], image_spec: ImageSpec
    ) -> None:
        super().__init__(model, tokenizer, settings, source)
        self.image_spec = image_spec
        self._set_vision_trainable()

    @classmethod
    def build(cls, settings: LlavaSettings) -> LlavaLanguageModel:
        model, tokenizer, spec, source = build_llava_parts(settings)
        return cls(model, tokenizer, settings, source, spec)

    @property
    def vision_tower(self) -> nn.Module:
        return self.model.model.vision_tower

    @property
    def projector(self) -> nn.Module:
        return self.model.model.multi_modal_projector

    def _set_vision_trainable(self) -> None:
        if self.settings.freeze_vision:
            self.vision_tower.requires_grad_(False)

    # -- images ----------------------------------------------------------------------------
    @property
    def has_vision(self) -> bool:
        return True

    def image_preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` ``[B, H, W, 3]`` -> pixels ``[B, 3, h, w]`` in the vision tower's dtype."""
        dtype = next(self.vision_tower.parameters()).dtype
        return preprocess_images(images, self.image_spec).to(dtype)

    def image_embeddings(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels ``[B, 3, h, w]`` -> image tokens ``[B, N, E]`` (after the projector)."""
        dtype = next(self.vision_tower.parameters()).dtype
        out = self.model.model.get_image_features(pixel_values=pixels.to(dtype), return_dict=True)
        features = out.pooler_output
        return torch.stack(list(features)) if isinstance(features, (list, tuple)) else features

    # -- LoRA ------------------------------------------------------------------------------
    def lora_targets(self, settings: LoraSettings) -> list[str]:
        """The linear layers of the language model only (not the vision tower or projector)."""
        scope = f"{_module_name(self.model, self.model.model.language_model)}."
        return lora_targets(self.model, settings, scope=scope, exclude=(self.model.get_output_embeddings(),))

    def _after_lora(self) -> None:
        if self.settings.train_projector:
            self.projector.requires_grad_(True)
        if not self.settings.freeze_vision:
            self.vision_tower.requires_grad_(True)

    # -- bundles ---------------------------------------------------------------------------
    def save_preprocessing(self, directory: str) -> list[str]:
        files = super().save_preprocessing(directory)
        with open(os.path.join(directory, IMAGE_SPEC), "w", encoding="utf-8") as f:
            json.dump(self.image_spec.to_dict(), f, indent=2)
        return [*files, IMAGE_SPEC]

    @staticmethod
    def load_preprocessing(directory: str) -> dict[str, Any]:
        parts = HFLanguageModel.load_preprocessing(directory)
        with open(os.path.join(directory, IMAGE_SPEC), encoding="utf-8") as f:
            parts["image_spec"] = ImageSpec.from_dict(json.load(f))
        return parts

    @classmethod
    def from_parts(
        cls, model: nn.Module, preprocessing: dict[str, Any], settings: LlavaSettings, source: dict[str, Any]
    ) -> LlavaLanguageModel:
        return cls(model, preprocessing["tokenizer"], settings, source, preprocessing["image_spec"])

    def set_preprocessing(self, preprocessing: dict[str, Any]) -> None:
        super().set_preprocessing(preprocessing)
        self.image_spec = preprocessing["image_spec"]

    @staticmethod
    def pretrained_class() -> Any:
        from transformers import LlavaForConditionalGeneration

        return LlavaForConditionalGeneration


def _module_name(model: nn.Module, module: nn.Module) -> str:
    for name, m in model.named_modules():
        if m is module:
            return name
    raise ValueError("module not found in model")
