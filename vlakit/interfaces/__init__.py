"""The five component kinds vlakit composes, as abstract classes.

The torch-based interfaces (vision backbone, language model) are imported lazily so that
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
    from vlakit.interfaces.vision import VisionBackbone, masked_row_mean, point_l1

__all__ = [
    "ActionCodec",
    "Dataset",
    "EpisodeWriter",
    "InvalidSymbols",
    "LMOutput",
    "LanguageModel",
    "RecordingSpec",
    "RobotDriver",
    "Task",
    "TaskEnvironment",
    "VisionBackbone",
    "masked_row_mean",
    "numpy_view",
    "point_l1",
]

_LAZY = {
    "LanguageModel": "vlakit.interfaces.language",
    "LMOutput": "vlakit.interfaces.language",
    "VisionBackbone": "vlakit.interfaces.vision",
    "point_l1": "vlakit.interfaces.vision",
    "masked_row_mean": "vlakit.interfaces.vision",
}


__getattr__ = lazy_attributes(__name__, _LAZY)
