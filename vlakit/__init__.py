"""vlakit: compose vision-language-action robot policies from plugins.

The public API a plugin may use is what this module exports (plus ``vlakit.interfaces``,
``vlakit.types`` and ``vlakit.testing``).
"""

from __future__ import annotations

from vlakit.digest import sha256_file, sha256_tree
from vlakit.environ import usable_cores
from vlakit.errors import (
    BundleError,
    NonFiniteError,
    PluginError,
    RecipeError,
    RobotError,
    UnknownComponentError,
    VlakitError,
)
from vlakit.interfaces import (
    ActionCodec,
    Dataset,
    InvalidSymbols,
    RobotDriver,
    Task,
    TaskEnvironment,
    numpy_view,
)
from vlakit.io import atomic_path, atomic_write_text, file_lock
from vlakit.plugins import PLUGIN_API, ComponentConfig, get_registry, hookimpl
from vlakit.runtime.safety import SafetyLayer, UnsafeAction
from vlakit.types import ActionSpace, CameraSpec, Episode, Observation, Sample, TargetSpec

__version__ = "0.1.0"

__all__ = [
    "ActionCodec",
    "ActionSpace",
    "BundleError",
    "CameraSpec",
    "ComponentConfig",
    "Dataset",
    "Episode",
    "InvalidSymbols",
    "NonFiniteError",
    "PLUGIN_API",
    "Observation",
    "PluginError",
    "RecipeError",
    "RobotDriver",
    "RobotError",
    "SafetyLayer",
    "Sample",
    "TargetSpec",
    "Task",
    "TaskEnvironment",
    "UnknownComponentError",
    "UnsafeAction",
    "VlakitError",
    "__version__",
    "atomic_path",
    "atomic_write_text",
    "file_lock",
    "get_registry",
    "hookimpl",
    "numpy_view",
    "sha256_file",
    "sha256_tree",
    "usable_cores",
]
