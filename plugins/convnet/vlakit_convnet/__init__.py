"""vlakit plugin: ``convnet``, a small CNN as a vision backbone.

Built for CPU-sized policies trained from scratch. Strided 3x3 convolutions make a feature map
that becomes tokens in one of two ways: ``grid`` (one token per cell, like ViT patches) or
``flat`` (the whole map flattened and projected to a few tokens, so each token reads object
positions through its weights; from scratch this learns where things are far faster than
attention over grid tokens). Optional (x, y) input channels (CoordConv). With ``film_dim > 0``
every layer is FiLM-modulated by the instruction (RT-1), so the features already say which
object the words mean. Importing this package
is light: torch loads when a backbone is built.
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
    dilations: list[int] | None = Field(
        None,
        description="dilation per layer (>= 1; default all 1): widens what a cell sees without "
        "shrinking the map, so a fine final map still relates objects far apart",
    )
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
        "closest to the red star'); 0: off",
    )
    relate_query: bool = Field(
        False,
        description="where the related points come from: false, each is where one of the first "
        "`relate` channels fires (FiLM can scale a channel, not change what it detects); true, each "
        "is where a query predicted from the instruction (a vector per point) matches the "
        "next-to-last layer's features best (dot product per cell), so 'the red star' can score the "
        "cells that are red and star-shaped. Needs film_dim",
    )
    relate_anchor: float = Field(
        0.0,
        ge=0,
        description="weight of an auxiliary L1 loss (image fractions) that pulls the first related "
        "point onto the sample's anchor, the reference its instruction names ('closest to the X': "
        "the X; the digit pad; the named place), on samples whose dataset knows it (tabletop-demos "
        "does): the distance maps then measure from the right object. Needs relate >= 1; "
        "single-camera recipes. 0: off",
    )
    relate_aim: float = Field(
        0.0,
        ge=0,
        description="weight of an auxiliary L1 loss (image fractions) that pulls the second related "
        "point onto the sample's aim, where the gripper heads for (the named object, then where it "
        "goes), on samples whose dataset knows it: the backbone must find the object that has both "
        "the named colour and shape, and the last layer measures from it. Needs relate >= 2; "
        "single-camera recipes. 0: off",
    )
    aim_map: float = Field(
        0.0,
        ge=0,
        description="weight of an auxiliary cross-entropy that makes the last layer's first channel a "
        "map of the sample's aim (where the gripper heads for): its spatial softmax, the keypoint "
        "readout's own, is trained onto the cells around the aim (bilinear weights), on samples whose "
        "dataset knows it. Unlike an L1 on a point, mass on a look-alike is penalized wherever it "
        "lies. Needs readout keypoints; single-camera recipes. 0: off",
    )
    object_classes: list[int] = Field(
        [],
        description="classes per object attribute the training data names (Sample.object_classes; "
        "tabletop-demos: [7, 6, 2] for colour, shape, size); with object_loss, a linear head reads "
        "the next-to-last layer's output at each object's centre (all channels but the first `relate`, "
        "which the related points are read from, unless relate_query) and predicts them",
    )
    object_loss: float = Field(
        0.0,
        ge=0,
        description="weight of the object head's cross-entropy (mean over objects and attributes), "
        "on samples whose dataset gives objects: every object in view teaches the features what it "
        "is, not only the one the instruction names. Needs object_classes; single-camera recipes. "
        "0: off",
    )
    freeze: bool = Field(False, description="no gradients, always in eval mode")

    @model_validator(mode="after")
    def _layers(self) -> ConvNetConfig:
        for name, values in (("channels", self.channels), ("dilations", self.dilations)):
            if values is not None and len(values) != len(self.strides):
                raise ValueError(
                    f"{name} ({len(values)} entries) and strides ({len(self.strides)}) need one entry per layer"
                )
        if any(s not in (1, 2) for s in self.strides):
            raise ValueError(f"strides are 1 or 2, got {self.strides}")
        if self.dilations is not None and any(d < 1 for d in self.dilations):
            raise ValueError(f"dilations are >= 1, got {self.dilations}")
        if self.relate and (len(self.channels) < 2 or self.relate > self.channels[-2]):
            raise ValueError(
                f"relate ({self.relate}) needs two or more layers and at most the next-to-last layer's "
                f"channels ({self.channels[-2] if len(self.channels) > 1 else 'none'})"
            )
        if self.relate_query and not (self.relate and self.film_dim):
            raise ValueError(
                f"relate_query predicts the related points' queries from the instruction; set relate >= 1 "
                f"and film_dim > 0 (got relate {self.relate}, film_dim {self.film_dim})"
            )
        if self.relate_anchor and not self.relate:
            raise ValueError(f"relate_anchor ({self.relate_anchor}) supervises a related point; set relate >= 1")
        if self.relate_aim and self.relate < 2:
            raise ValueError(
                f"relate_aim ({self.relate_aim}) supervises the second related point; set relate >= 2 (got {self.relate})"
            )
        if self.aim_map and self.readout != "keypoints":
            raise ValueError(f"aim_map ({self.aim_map}) trains the keypoint readout's first channel; set readout: keypoints")
        if self.object_loss and not self.object_classes:
            raise ValueError(f"object_loss ({self.object_loss}) needs object_classes (classes per attribute)")
        if any(n < 2 for n in self.object_classes):
            raise ValueError(f"object_classes are class counts >= 2 per attribute, got {self.object_classes}")
        if self.object_loss and (len(self.channels) < 2 or (not self.relate_query and self.relate >= self.channels[-2])):
            raise ValueError(
                "object_loss reads the next-to-last layer's channels past the first `relate`; it needs two or "
                "more layers and a channel left"
            )
        return self


def build_convnet(config: ConvNetConfig) -> Any:
    """Factory of ``convnet``."""
    from vlakit_convnet.backbone import ConvNetBackbone

    return ConvNetBackbone(config)


@hookimpl
def register_vision_backbones(register: Any) -> None:
    register(
        "convnet",
        build_convnet,
        config=ConvNetConfig,
        description="small CNN (optional coordinate channels and FiLM instruction conditioning): a grid of patch tokens or flat projected tokens, for from-scratch CPU policies",
        example={"img_size": 32, "channels": [8, 16], "strides": [2, 2]},
    )
