"""What the runtime and evaluation need from a policy (``vlakit.policy.Policy`` satisfies both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from vlakit.types import ActionSpace, Observation


@runtime_checkable
class ActingPolicy(Protocol):
    """One observation and instruction -> action ``[D]`` (or chunk ``[H, D]``) in robot units."""

    @property
    def action_space(self) -> ActionSpace: ...

    def act(self, observation: Observation, instruction: str) -> np.ndarray: ...


@runtime_checkable
class BatchPolicy(Protocol):
    """``B`` observations and instructions -> actions ``[B, D]`` (or chunks ``[B, H, D]``)."""

    @property
    def action_space(self) -> ActionSpace: ...

    def act_batch(self, observations: Sequence[Observation], instructions: Sequence[str]) -> np.ndarray: ...
