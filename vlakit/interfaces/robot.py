"""The robot driver interface, in the manner of LeRobot's Robot."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlakit.types import ActionSpace, CameraSpec, Observation


class RobotDriver(ABC):
    """A robot (real or simulated): connect, observe, act, disconnect.

    :meth:`act` receives one action ``[D]`` ``float32`` in the units of :attr:`action_space`,
    already checked by vlakit's safety layer. :meth:`safe_stop` must leave the robot in a safe
    state (hold position, torque as configured) and is called on Ctrl-C, on exceptions and when
    the policy stalls. Drivers are context managers: ``with robot: ...`` connects and always
    disconnects.
    """

    @property
    @abstractmethod
    def action_space(self) -> ActionSpace:
        """Names, units and limits of the action vector."""

    @property
    @abstractmethod
    def cameras(self) -> dict[str, CameraSpec]:
        """The cameras whose images appear in every :class:`Observation`."""

    @property
    def state_names(self) -> tuple[str, ...]:
        """Names of the entries of ``Observation.state`` (empty when there is no state)."""
        return ()

    @property
    def control_hz(self) -> float:
        """Rate in Hz at which :meth:`act` is meant to be called."""
        return 10.0

    @property
    @abstractmethod
    def is_connected(self) -> bool:
        """Whether :meth:`connect` succeeded and :meth:`disconnect` has not been called."""

    @abstractmethod
    def connect(self) -> None:
        """Open the connection (port, simulator). Raises a clear error when it cannot."""

    @abstractmethod
    def observe(self) -> Observation:
        """Current camera images and state."""

    @abstractmethod
    def act(self, action: np.ndarray) -> None:
        """Send one action ``[D]`` in robot units."""

    @abstractmethod
    def safe_stop(self) -> None:
        """Bring the robot to a safe state; must not raise if the robot is already safe."""

    @abstractmethod
    def disconnect(self) -> None:
        """Close the connection after :meth:`safe_stop`."""

    def __enter__(self) -> RobotDriver:
        self.connect()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.safe_stop()
        finally:
            self.disconnect()


@dataclass
class Task:
    """One task instance of a :class:`TaskEnvironment`.

    ``family`` groups tasks for reporting (``pick``, ``place-next-to``, ...); ``split`` says
    whether the task was held out from training (``seen`` or ``unseen``).
    """

    instruction: str
    family: str
    split: str
    seed: int
    info: dict[str, Any] | None = None


class TaskEnvironment(ABC):
    """A robot that can also set up tasks and judge them: a simulator, or a rig with a scorer.

    vlakit's evaluation uses drivers that implement this besides :class:`RobotDriver`; success is
    judged by the environment's own state, never by the policy.
    """

    @property
    def splits(self) -> tuple[str, ...]:
        """The task splits this environment offers."""
        return ("seen", "unseen")

    @abstractmethod
    def reset_task(self, seed: int, split: str) -> Task:
        """Set up a new task from ``seed`` in ``split`` and return it."""

    @abstractmethod
    def task_success(self) -> bool:
        """Whether the current task is accomplished, judged from the environment's state."""

    def task_done(self) -> bool:
        """Whether the current episode has ended (the policy sent its terminate flag, or the
        environment ended it). Evaluation also stops at :attr:`max_steps`."""
        return False

    def task_outcome(self) -> str:
        """How the current task went, in a few words, for failure analysis: ``"success"`` or a
        kind of failure the environment can tell apart (``"grasped the reference object first"``).
        The default says ``"success"`` or ``"failure"``."""
        return "success" if self.task_success() else "failure"

    @property
    def max_steps(self) -> int:
        """Step budget for one task."""
        return 100
