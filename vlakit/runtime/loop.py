"""The control loop: observe -> policy -> safety layer -> robot, at a fixed rate.

Whatever ends an episode abnormally (Ctrl-C, an exception anywhere, a non-finite command, a
policy slower than the stall timeout) first calls ``robot.safe_stop()`` and then re-raises.
A normal end (``max_steps`` reached, or a :class:`TaskEnvironment` reports ``task_done()``)
leaves the robot holding its last command; leaving ``with robot:`` stops it safely.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vlakit.errors import RobotError
from vlakit.interfaces.robot import RobotDriver, TaskEnvironment
from vlakit.runtime.protocols import ActingPolicy
from vlakit.runtime.safety import MaxDelta, SafetyLayer, UnsafeAction
from vlakit.runtime.worker import PolicyWorker
from vlakit.types import ActionSpace, Observation

log = logging.getLogger(__name__)

#: Default seconds a single policy call may take before the robot is stopped.
DEFAULT_STALL_TIMEOUT = 10.0


@dataclass
class EpisodeResult:
    """What one run of :func:`run_episode` did.

    ``frames`` are ``uint8`` ``[H, W, 3]`` images of the recorded camera, one per observation
    (``steps + 1`` with the final one); ``actions`` ``float32`` ``[steps, D]`` the commands sent
    (after the safety layer); ``reason`` is ``"max_steps"`` or ``"done"``; times in seconds.
    """

    steps: int
    frames: list[np.ndarray] = field(default_factory=list)
    actions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    reason: str = "max_steps"
    seconds: float = 0.0
    policy_seconds: float = 0.0
    #: seconds of work of each tick (observe, policy, safety, act; not the pacing sleep)
    tick_seconds: list[float] = field(default_factory=list)
    #: ticks whose work took longer than the control period
    overruns: int = 0

    def timing(self) -> dict[str, float]:
        """Achieved rate (Hz), loop time p50/p99 (ms) and overruns of the episode."""
        ticks = np.asarray(self.tick_seconds, dtype=np.float64)
        p50, p99 = (np.percentile(ticks, [50, 99]) * 1000).tolist() if ticks.size else (0.0, 0.0)
        return {
            "hz": self.steps / self.seconds if self.seconds > 0 else 0.0,
            "p50_ms": p50,
            "p99_ms": p99,
            "overruns": float(self.overruns),
        }


def check_action_space(policy_space: ActionSpace, robot_space: ActionSpace, who: str = "the policy") -> None:
    """Raise :class:`RobotError` when ``policy_space`` does not fit the robot's (names and units)."""
    problem = policy_space.mismatch(robot_space)
    if problem is not None:
        raise RobotError(
            f"{who} was trained for another action space than this robot's ({problem}); no command was sent"
        )


def safe_stop_quietly(robot: RobotDriver) -> None:
    """``robot.safe_stop()``; a failure is logged, so it never hides the error that caused it."""
    try:
        robot.safe_stop()
    except Exception:  # the original error matters more; the failure is still reported
        log.exception("safe_stop() failed on %s", type(robot).__name__)


class _Pacer:
    """Sleeps so that ticks start every ``1 / hz`` seconds; a late tick restarts the schedule."""

    def __init__(self, hz: float) -> None:
        self.period = 1.0 / hz if hz > 0 else 0.0
        self.next = time.monotonic()

    def wait(self) -> bool:
        """Sleep until the next tick; ``True`` when this tick overran its period."""
        if self.period == 0.0:
            return False
        self.next += self.period
        delay = self.next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
            return False
        self.next = time.monotonic()
        return True


def run_episode(
    robot: RobotDriver,
    policy: ActingPolicy,
    instruction: str,
    max_steps: int,
    hz: float | None = None,
    stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
    max_delta: MaxDelta | None = None,
    camera: str | None = None,
    record_frames: bool = True,
    on_step: Callable[[Observation, np.ndarray], None] | None = None,
) -> EpisodeResult:
    """Run ``policy`` on a connected ``robot`` for up to ``max_steps`` ticks.

    ``hz``: control rate in Hz (``None``: the robot's ``control_hz``; ``0``: as fast as possible).
    ``stall_timeout``: seconds one policy call may take (``None``: no limit, no worker thread).
    ``max_delta``: per-tick change bound of the safety layer (see :class:`SafetyLayer`).
    ``camera``: the camera recorded into ``frames`` (default: the robot's first).
    A policy returning a chunk ``[H, D]`` has its ``H`` actions executed one per tick before it
    is asked again. The action spaces are compared before anything is sent.
    ``on_step(observation, command)``: called after each command is sent, with what the robot saw
    and the command ``[D]`` (after the safety layer), e.g. to record the episode.
    """
    check_action_space(policy.action_space, robot.action_space)
    if max_steps < 1:
        raise RobotError(f"max_steps must be at least 1, got {max_steps}")
    if not robot.is_connected:
        raise RobotError(f"{type(robot).__name__} is not connected; use `with robot:` or call connect()")
    cameras = list(robot.cameras)
    if camera is None and record_frames and cameras:
        camera = cameras[0]
    elif camera is not None and camera not in robot.cameras:
        raise RobotError(f"unknown camera {camera!r}; the robot has {cameras}")
    safety = SafetyLayer(robot.action_space, max_delta)
    pacer = _Pacer(robot.control_hz if hz is None else hz)
    result = EpisodeResult(steps=0)
    sent: list[np.ndarray] = []
    pending: deque[np.ndarray] = deque()
    start = time.monotonic()
    try:
        with PolicyWorker(stall_timeout) as worker:
            while result.steps < max_steps:
                tick_start = time.monotonic()
                observation = robot.observe()
                if record_frames and camera is not None:
                    result.frames.append(np.array(observation.images[camera], copy=True))
                if not pending:
                    t0 = time.monotonic()
                    raw = np.asarray(worker.call(policy.act, observation, instruction))
                    result.policy_seconds += time.monotonic() - t0
                    if raw.ndim == 2 and raw.shape[0] == 0:
                        raise UnsafeAction("the policy returned an empty action chunk")
                    pending.extend(raw if raw.ndim == 2 else [raw])
                command = safety(pending.popleft())
                robot.act(command)
                sent.append(command)
                if on_step is not None:
                    on_step(observation, command)
                result.steps += 1
                result.tick_seconds.append(time.monotonic() - tick_start)
                if isinstance(robot, TaskEnvironment) and robot.task_done():
                    result.reason = "done"
                    break
                result.overruns += pacer.wait()
            if record_frames and camera is not None:
                result.frames.append(np.array(robot.observe().images[camera], copy=True))
    except BaseException:
        safe_stop_quietly(robot)
        raise
    result.seconds = time.monotonic() - start
    result.actions = np.stack(sent) if sent else np.zeros((0, robot.action_space.dim), dtype=np.float32)
    return result
