"""vlakit plugin: any timm model as a vision backbone (``timm``).

Importing this package is light: torch and timm load only when a backbone is built.
"""

from __future__ import annotations

from typing import Any

from vlakit_timm.config import TINY_VIT, TimmConfig

from vlakit import hookimpl

#: The vlakit plugin API this plugin is written for.
VLAKIT_PLUGIN_API = 1

__all__ = ["TINY_VIT", "TimmConfig", "build_timm"]


def build_timm(config: TimmConfig) -> Any:
    """Factory of ``timm``: a :class:`~vlakit_timm.backbone.TimmBackbone`."""
    from vlakit_timm.backbone import TimmBackbone

    return TimmBackbone(config)


@hookimpl
def register_vision_backbones(register: Any) -> None:
    register(
        "timm",
        build_timm,
        config=TimmConfig,
        description="any timm model (ViT, ConvNeXt, ResNet, ...) as patch features; weights from a local file",
        example=TINY_VIT,
    )
