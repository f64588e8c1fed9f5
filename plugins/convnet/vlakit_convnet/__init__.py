"""vlakit plugin: ``convnet``, a small CNN as a vision backbone.

Built for CPU-sized policies trained from scratch. Strided 3x3 convolutions make a feature map
that becomes tokens in one of two ways: ``grid`` (one token per cell, like ViT patches) or
``flat`` (the whole map flattened and projected to a few tokens, so each token reads object
positions through its weights; from scratch this learns where things are far faster than
attention over grid tokens). Optional (x, y) input channels (CoordConv). With ``film_dim > 0``
every layer is FiLM-modulated by the instruction (RT-1), so the features already say which
object the words mean; the instruction encoder that reads the words is the conditioner the
backbone supplies. With the keypoints readout it outputs each channel's spatial logits
(``keypoint_logits``), with ``relate`` its related points (``related_points``); two objectives
train them onto a point target: ``keypoint-map`` and ``related-point``. Importing this package
is light: torch loads when a backbone or objective is built.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from vlakit import ComponentConfig, hookimpl

#: The vlakit plugin API this plugin is written for.
VLAKIT_PLUGIN_API = 1


class ConvNetConfig(ComponentConfig):
    """A stack of 3x3 convolutions; each ``strides`` entry halves the grid when it is 2."""

    img_size: int = Field(64, ge=8, description="input side, pixels (images are resized to it)")
    channels: list[int] = Field([32, 64, 128, 128], min_length=1, description="output channels per layer")
    strides: list[int] = Field([2, 2, 2, 1], min_length=1, description="stride per layer (1 or 2)")
    coords: bool = Field(True, description="append (x, y) coordinate channels to the input (CoordConv)")
    readout: Literal["grid", "flat", "keypoints"] = Field(
        "grid",
        description="grid: one token per cell of the final feature map (plus a learned position); "
        "flat: flatten the whole map and project it to flat_tokens tokens, so every token reads "
        "positions through its weights (learns to localize much faster from scratch); "
        "keypoints: each channel's spatial-softmax (x, y) and its mean, projected to flat_tokens tokens",
    )
    flat_tokens: int = Field(8, ge=1, description="number of tokens of the flat and keypoints readouts")
    film_dim: int = Field(
        0,
        ge=0,
        description="width of the instruction summary that FiLM-modulates every layer (scale and "
        "shift per channel after its GroupNorm, as RT-1's FiLM EfficientNet); 0: no conditioning",
    )
    relate: int = Field(
        0,
        ge=0,
        description="relational feedback: where the first `relate` channels of the next-to-last "
        "layer fire (spatial-softmax points) enters the last layer as maps of each cell's distance "
        "to those points, so it can weigh objects by how near they are to a found one ('the object "
        "closest to the red star'); the points are the output related_points (the related-point "
        "objective trains one onto a target); 0: off",
    )
    freeze: bool = Field(False, description="no gradients, always in eval mode")

    @model_validator(mode="after")
    def _layers(self) -> ConvNetConfig:
        if len(self.channels) != len(self.strides):
            raise ValueError(
                f"channels ({len(self.channels)} entries) and strides ({len(self.strides)}) need one entry per layer"
            )
        if any(s not in (1, 2) for s in self.strides):
            raise ValueError(f"strides are 1 or 2, got {self.strides}")
        if self.relate and (len(self.channels) < 2 or self.relate > self.channels[-2]):
            raise ValueError(
                f"relate ({self.relate}) needs two or more layers and at most the next-to-last layer's "
                f"channels ({self.channels[-2] if len(self.channels) > 1 else 'none'})"
            )
        return self


class KeypointMapConfig(ComponentConfig):
    """Trains one channel's spatial softmax of the keypoints readout onto a point target."""

    target: str = Field(
        "aim",
        min_length=1,
        description="name of the point target, float32 [2] (x, y) fractions of its camera's image "
        "(tabletop-demos and tabletop-vqa: aim, where the gripper heads for)",
    )
    channel: int = Field(0, ge=0, description="the last layer's channel trained into the map")


class RelatedPointConfig(ComponentConfig):
    """Pulls one related point (``relate``) onto a point target with an L1 loss."""

    target: str = Field(
        "anchor",
        min_length=1,
        description="name of the point target, float32 [2] (x, y) fractions of its camera's image "
        "(tabletop-demos and tabletop-vqa: anchor, the reference the instruction names)",
    )
    point: int = Field(0, ge=0, description="which related point (0: the first)")


def build_convnet(config: ConvNetConfig) -> Any:
    """Factory of ``convnet``."""
    from vlakit_convnet.backbone import ConvNetBackbone

    return ConvNetBackbone(config)


def build_keypoint_map(config: KeypointMapConfig) -> Any:
    """Factory of ``keypoint-map``."""
    from vlakit_convnet.objectives import KeypointMap

    return KeypointMap(config)


def build_related_point(config: RelatedPointConfig) -> Any:
    """Factory of ``related-point``."""
    from vlakit_convnet.objectives import RelatedPoint

    return RelatedPoint(config)


@hookimpl
def register_objectives(register: Any) -> None:
    register(
        "keypoint-map",
        build_keypoint_map,
        config=KeypointMapConfig,
        description="convnet keypoints readout: a cross-entropy that makes one channel's spatial softmax a map "
        "of a point target (bilinear cell weights); unlike an L1 on a point, mass on a look-alike costs",
    )
    register(
        "related-point",
        build_related_point,
        config=RelatedPointConfig,
        description="convnet relate: an L1 that pulls one related point onto a point target, so the distance "
        "maps measure from it",
    )


@hookimpl
def register_vision_backbones(register: Any) -> None:
    register(
        "convnet",
        build_convnet,
        config=ConvNetConfig,
        description="small CNN (optional coordinate channels and FiLM instruction conditioning): a grid of patch tokens or flat projected tokens, for from-scratch CPU policies",
        example={"img_size": 32, "channels": [8, 16], "strides": [2, 2]},
    )
