"""vlakit plugin: transformers language models (``hf``) and LLaVA (``llava``, fills the vision slot too).

Importing this package is light: torch and transformers load only when a model is built.
"""

from __future__ import annotations

from typing import Any

from vlakit_hf.config import TINY_LLAMA, TINY_LLAVA, HFConfig, LlavaSettings, LoraSettings

from vlakit import hookimpl

#: The vlakit plugin API this plugin is written for.
VLAKIT_PLUGIN_API = 1

__all__ = ["TINY_LLAMA", "TINY_LLAVA", "HFConfig", "LlavaSettings", "LoraSettings", "build_hf", "build_llava"]


def build_hf(config: HFConfig) -> Any:
    """Factory of ``hf``: an :class:`~vlakit_hf.model.HFLanguageModel` (LoRA not applied yet)."""
    from vlakit_hf.model import HFLanguageModel

    return HFLanguageModel.build(config)


def build_llava(config: LlavaSettings) -> Any:
    """Factory of ``llava``: a :class:`~vlakit_hf.llava.LlavaLanguageModel` (LoRA not applied yet)."""
    from vlakit_hf.llava import LlavaLanguageModel

    return LlavaLanguageModel.build(config)


def load_hf(config: HFConfig, directory: str, base: str | None) -> Any:
    """Loader of ``hf`` and ``llava``: rebuild from a bundle's language folder (see ``vlakit_hf.bundle``)."""
    if isinstance(config, LlavaSettings):
        from vlakit_hf.llava import LlavaLanguageModel as model_class
    else:
        from vlakit_hf.model import HFLanguageModel as model_class

    return model_class.from_saved(directory, config, base)


@hookimpl
def register_language_models(register: Any) -> None:
    register(
        "hf",
        build_hf,
        config=HFConfig,
        load=load_hf,
        description="any transformers causal LM from a local directory or an inline config; LoRA via peft",
    )
    register(
        "llava",
        build_llava,
        config=LlavaSettings,
        load=load_hf,
        description="LLaVA (transformers) from a local directory: language model with its own vision tower",
    )
