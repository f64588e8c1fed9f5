"""The six component kinds vlakit composes, as abstract classes.

The torch-based interfaces (vision backbone, language model, objective) are imported lazily so that
listing plugins or validating recipes does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vlakit.interfaces.codec import ActionCodec, InvalidSymbols, numpy_view
from vlakit.interfaces.dataset import Dataset
from vlakit.interfaces.robot import RobotDriver, Task, TaskEnvironment
from vlakit.interfaces.writer import EpisodeWriter, RecordingSpec
from vlakit.lazy import lazy_attributes

if TYPE_CHECKING:
    from vlakit.interfaces.language import LanguageModel, LMOutput
    from vlakit.interfaces.objective import (
        IMAGE_TOKENS,
        ModelInfo,
        ModelOutputs,
        Objective,
        masked_row_mean,
        point_l1,
    )
    from vlakit.interfaces.vision import Conditioning, VisionBackbone, VisionOutput

__all__ = [
    "IMAGE_TOKENS",
    "ActionCodec",
    "Conditioning",
    "Dataset",
    "EpisodeWriter",
    "InvalidSymbols",
    "LMOutput",
    "LanguageModel",
    "ModelInfo",
    "ModelOutputs",
    "Objective",
    "RecordingSpec",
    "RobotDriver",
    "Task",
    "TaskEnvironment",
    "VisionBackbone",
    "VisionOutput",
    "masked_row_mean",
    "numpy_view",
    "point_l1",
]

_LAZY = {
    "LanguageModel": "vlakit.interfaces.language",
    "LMOutput": "vlakit.interfaces.language",
    "VisionBackbone": "vlakit.interfaces.vision",
    "VisionOutput": "vlakit.interfaces.vision",
    "Conditioning": "vlakit.interfaces.vision",
    "Objective": "vlakit.interfaces.objective",
    "ModelInfo": "vlakit.interfaces.objective",
    "ModelOutputs": "vlakit.interfaces.objective",
    "IMAGE_TOKENS": "vlakit.interfaces.objective",
    "point_l1": "vlakit.interfaces.objective",
    "masked_row_mean": "vlakit.interfaces.objective",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
