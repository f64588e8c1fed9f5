"""Running a policy on a robot: the safety layer and the control loop."""

from vlakit.runtime.loop import (
    DEFAULT_STALL_TIMEOUT,
    EpisodeResult,
    check_action_space,
    run_episode,
    safe_stop_quietly,
)
from vlakit.runtime.protocols import ActingPolicy, BatchPolicy
from vlakit.runtime.safety import SafetyLayer, UnsafeAction
from vlakit.runtime.worker import PolicyStalled, PolicyWorker

__all__ = [
    "DEFAULT_STALL_TIMEOUT",
    "ActingPolicy",
    "BatchPolicy",
    "EpisodeResult",
    "PolicyStalled",
    "PolicyWorker",
    "SafetyLayer",
    "UnsafeAction",
    "check_action_space",
    "run_episode",
    "safe_stop_quietly",
]
