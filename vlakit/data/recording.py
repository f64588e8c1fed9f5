"""Recording and exporting episodes through a dataset plugin's writer (format-agnostic).

``vlakit run --record DIR`` records the episodes it runs; ``vlakit dataset export`` writes the
episodes of any registered dataset that keeps whole episodes. Which format is written is the
plugin's business: the registry names the datasets that declared a writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from vlakit.errors import VlakitError
from vlakit.interfaces.dataset import Dataset
from vlakit.interfaces.robot import RobotDriver
from vlakit.interfaces.writer import EpisodeWriter, RecordingSpec, open_writer
from vlakit.plugins.registry import Registry
from vlakit.types import CameraSpec, Observation


def robot_spec(robot: RobotDriver, fps: float | None = None, robot_type: str | None = None) -> RecordingSpec:
    """The recording spec of ``robot``'s frames at ``fps`` (default: its control rate)."""
    return RecordingSpec(
        fps=float(fps or robot.control_hz),
        action_space=robot.action_space,
        cameras=tuple(robot.cameras.values()),
        state_names=tuple(robot.state_names),
        robot_type=robot_type,
    )


def dataset_spec(dataset: Dataset, fps: float | None = None, robot_type: str | None = None) -> RecordingSpec:
    """The recording spec of ``dataset``'s episodes, read from its first episode.

    ``fps``: frames per second (default: the dataset's own, else 10). State entries are named
    ``state.0``, ``state.1``, ... unless the dataset has ``state_names``.
    """
    if dataset.action_space is None or not dataset.num_episodes:
        raise VlakitError(
            f"{type(dataset).__name__} keeps no whole robot episodes, so it cannot be exported as episodes"
        )
    first = dataset.episode(0)
    cameras = tuple(CameraSpec(name, int(f.shape[1]), int(f.shape[2])) for name, f in first.images.items())
    names = tuple(getattr(dataset, "state_names", ()) or ())
    if first.states is not None and not names:
        names = tuple(f"state.{i}" for i in range(first.states.shape[-1]))
    return RecordingSpec(
        fps=float(fps or dataset.fps or 10.0),
        action_space=dataset.action_space,
        cameras=cameras,
        state_names=names if first.states is not None else (),
        robot_type=robot_type,
    )


def open_recording(registry: Registry, root: Path, spec: RecordingSpec, fmt: str | None = None) -> EpisodeWriter:
    """A writer of dataset format ``fmt`` (default: the only installed one) recording into ``root``."""
    reg = registry.writer(fmt)
    return open_writer(reg.writer, Path(root), spec)


def export_episodes(dataset: Dataset, writer: EpisodeWriter, episodes: int | None = None) -> int:
    """Write the first ``episodes`` (default: all) of ``dataset``'s episodes; returns how many."""
    total = dataset.num_episodes or 0
    n = total if episodes is None else min(int(episodes), total)
    return len(writer.write_episodes(dataset.episode(e) for e in range(n)))


class StepRecorder:
    """``on_step`` callback of :func:`vlakit.runtime.loop.run_episode` that feeds a writer frames."""

    def __init__(self, writer: EpisodeWriter) -> None:
        self.writer = writer
        self.frames = 0

    def __call__(self, observation: Observation, command: np.ndarray) -> None:
        self.writer.add_frame(observation, command)
        self.frames += 1


@contextmanager
def record_episode(writer: EpisodeWriter, instruction: str) -> Iterator[StepRecorder]:
    """Begin an episode of ``instruction`` and yield its :class:`StepRecorder`; the episode is
    saved when the block ends normally (with at least one frame) and discarded when it raises."""
    writer.begin_episode(instruction)
    recorder = StepRecorder(writer)
    try:
        yield recorder
    except BaseException:
        writer.discard_episode()
        raise
    if recorder.frames:
        writer.end_episode()
    else:
        writer.discard_episode()
