"""The episode writer interface: recording episodes into a dataset format on disk.

A dataset plugin that can also write its format registers a writer factory with its dataset
(``register(name, factory, config=..., writer=make_writer)``); ``vlakit run --record`` and
``vlakit dataset export`` find it there. The factory is called as ``writer(root, spec)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlakit.types import ActionSpace, CameraSpec, Episode, Observation


@dataclass(frozen=True)
class RecordingSpec:
    """What every frame of a recording holds.

    ``fps``: frames per second; ``cameras``: the camera images of each frame (``uint8``
    ``[height, width, 3]``); ``state_names``: the entries of the state ``[S]`` (empty: no state);
    ``robot_type``: a free label of the robot (or ``None``).
    """

    fps: float
    action_space: ActionSpace
    cameras: tuple[CameraSpec, ...]
    state_names: tuple[str, ...] = ()
    robot_type: str | None = None


class EpisodeWriter(ABC):
    """Writes episodes one frame at a time; an episode is kept only once :meth:`end_episode` returns.

    Whatever interrupts a recording (Ctrl-C, ``kill -9``, a crash) loses at most the episode in
    progress: the episodes ended before it stay readable. Writers are context managers; leaving
    ``with`` discards an episode still in progress and calls :meth:`close`.
    """

    @property
    @abstractmethod
    def spec(self) -> RecordingSpec:
        """What each frame of this recording holds."""

    @abstractmethod
    def begin_episode(self, instruction: str) -> None:
        """Start an episode whose task is ``instruction``."""

    @abstractmethod
    def add_frame(self, observation: Observation, action: np.ndarray) -> None:
        """Append one frame: what the robot saw and the action ``[D]`` (robot units) it then took."""

    @abstractmethod
    def end_episode(self) -> int:
        """Save the episode in progress; returns its index in the dataset."""

    @abstractmethod
    def discard_episode(self) -> None:
        """Drop the episode in progress (no-op without one)."""

    def close(self) -> None:
        """Finish writing; the dataset on disk is complete. Default: nothing to do."""

    def write_episode(self, episode: Episode) -> int:
        """Write a whole :class:`~vlakit.types.Episode`; returns its index."""
        self.begin_episode(episode.instruction)
        for t in range(len(episode)):
            images = {cam: frames[t] for cam, frames in episode.images.items()}
            state = None if episode.states is None else episode.states[t]
            observation = Observation(images=images, state=state, timestamp=t / self.spec.fps)
            self.add_frame(observation, episode.actions[t])
        return self.end_episode()

    def write_episodes(self, episodes: Iterable[Episode]) -> list[int]:
        """Write many whole episodes (an export); returns their indices. A writer may commit them
        in groups for speed, so an interruption may lose the group in progress (rerun the export).
        Default: one :meth:`write_episode` each."""
        return [self.write_episode(episode) for episode in episodes]

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.discard_episode()
        finally:
            self.close()


#: ``factory(root, spec)`` -> :class:`EpisodeWriter` (what a dataset registration's ``writer=`` names).
WriterFactory = Callable[[Path, RecordingSpec], EpisodeWriter]


def open_writer(factory: WriterFactory, root: Path, spec: RecordingSpec) -> EpisodeWriter:
    """Call a registered writer ``factory`` and check it returned an :class:`EpisodeWriter`."""
    writer = factory(Path(root), spec)
    if not isinstance(writer, EpisodeWriter):
        raise TypeError(f"writer factory {factory!r} returned {type(writer).__name__}, not an EpisodeWriter")
    return writer
