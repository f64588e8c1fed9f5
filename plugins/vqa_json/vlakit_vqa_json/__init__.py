"""vlakit_vqa_json: LLaVA-style conversation JSON as vision-language samples, for co-training.

Registers, through vlakit's public plugin API, the dataset ``vqa-json``. Importing this module is
light (the config model only).
"""

from __future__ import annotations

from typing import Any

from vlakit_vqa_json.config import VQAJsonConfig

from vlakit import hookimpl

#: The vlakit plugin API this plugin is written for.
VLAKIT_PLUGIN_API = 1

__all__ = ["VQAJsonConfig"]


def make_dataset(config: VQAJsonConfig) -> Any:
    """Factory of the ``vqa-json`` dataset."""
    from vlakit_vqa_json.dataset import VQAJsonDataset

    return VQAJsonDataset(config)


@hookimpl
def register_datasets(register: Any) -> None:
    register(
        "vqa-json",
        make_dataset,
        config=VQAJsonConfig,
        description="LLaVA-style conversation JSON (image + human/assistant turns) with local images",
    )
