"""Many evaluation episodes in lockstep: one batched policy call per step for all running envs.

``E`` environments each run one episode at a time; when one finishes, it takes the next episode
from the queue, so the batch stays full until the queue runs dry. Every command passes the
safety layer; a non-finite command ends that episode as a failure (``ended == "unsafe"``) after
``safe_stop()``, instead of aborting the whole evaluation. Ctrl-C or any other exception stops
every environment safely and propagates.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vlakit.errors import RobotError
from vlakit.interfaces.robot import RobotDriver, Task, TaskEnvironment
from vlakit.runtime.loop import check_action_space, safe_stop_quietly
from vlakit.runtime.protocols import BatchPolicy
from vlakit.runtime.safety import MaxDelta, SafetyLayer, UnsafeAction


@dataclass(frozen=True)
class EpisodeJob:
    """One episode to run: task ``seed`` of ``split``; ``index`` orders the results."""

    index: int
    split: str
    seed: int
    record: bool = False


@dataclass
class EpisodeRecord:
    """Outcome of one episode. ``ended``: ``"done"`` (the environment said so), ``"max_steps"``
    or ``"unsafe"`` (the safety layer refused a command; ``error`` says why). ``frames`` holds
    the recorded camera's ``uint8`` ``[H, W, 3]`` images when the job asked for them;
    ``outcome`` is the environment's :meth:`~vlakit.TaskEnvironment.task_outcome`."""

    index: int
    split: str
    seed: int
    family: str
    instruction: str
    success: bool
    steps: int
    ended: str
    error: str | None = None
    outcome: str = ""
    frames: list[np.ndarray] = field(default_factory=list, repr=False)
    gif: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (without the frames)."""
        return {
            "index": self.index,
            "split": self.split,
            "seed": self.seed,
            "family": self.family,
            "instruction": self.instruction,
            "success": self.success,
            "steps": self.steps,
            "ended": self.ended,
            "outcome": self.outcome,
            "error": self.error,
            "gif": self.gif,
        }


@dataclass
class LockstepTimings:
    """Seconds spent in the policy, in the environments (observe/act/reset), and in total."""

    policy: float = 0.0
    env: float = 0.0
    total: float = 0.0
    steps: int = 0
    policy_calls: int = 0


@dataclass
class _Slot:
    job: EpisodeJob
    task: Task
    budget: int
    steps: int = 0
    pending: deque[np.ndarray] = field(default_factory=deque)
    last: np.ndarray | None = None
    frames: list[np.ndarray] = field(default_factory=list)


def as_task_environment(robot: RobotDriver, name: str | None = None) -> TaskEnvironment:
    """``robot`` itself when it can set up tasks and judge them, else a :class:`RobotError`
    naming it (``name``: its registered type, when known)."""
    if not isinstance(robot, TaskEnvironment):
        what = f"robot {name!r} ({type(robot).__name__})" if name else type(robot).__name__
        raise RobotError(
            f"{what} is not a TaskEnvironment: evaluation needs a robot that sets up tasks and "
            "judges success (a simulator, or a rig with a scorer)"
        )
    return robot


def _split_batch(actions: np.ndarray, b: int, d: int) -> list[np.ndarray]:
    """``[B, D]`` or ``[B, H, D]`` -> ``B`` chunks ``[H, D]``."""
    a = np.asarray(actions)
    if a.ndim == 2:
        a = a[:, None, :]
    if a.ndim != 3 or a.shape[0] != b or a.shape[1] == 0 or a.shape[2] != d:
        raise RobotError(
            f"policy.act_batch returned shape {tuple(np.shape(actions))} for {b} observations; "
            f"expected [{b}, {d}] or [{b}, H, {d}]"
        )
    return list(a)


def run_lockstep(
    robots: Sequence[RobotDriver],
    policy: BatchPolicy,
    jobs: Sequence[EpisodeJob],
    max_steps: int | None = None,
    max_delta: MaxDelta | None = None,
    camera: str | None = None,
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> tuple[list[EpisodeRecord], LockstepTimings]:
    """Run ``jobs`` on connected ``robots`` (each a :class:`TaskEnvironment`), ``len(robots)`` at a time.

    ``max_steps``: step budget per episode (default: each environment's ``max_steps``).
    ``camera``: recorded for jobs with ``record`` set (default: the first camera).
    ``on_episode`` is called as each episode finishes (e.g. a progress bar). Returns the records
    in job order and the timings.
    """
    if not robots:
        raise RobotError("evaluation needs at least one environment")
    envs = [as_task_environment(r) for r in robots]
    space = robots[0].action_space
    check_action_space(policy.action_space, space)
    camera = camera or next(iter(robots[0].cameras), None)
    safety = SafetyLayer(space, max_delta)
    queue = deque(jobs)
    slots: list[_Slot | None] = [None] * len(robots)
    records: list[EpisodeRecord] = []
    timings = LockstepTimings()
    start = time.perf_counter()

    def begin(i: int) -> None:
        if not queue:
            slots[i] = None
            return
        job = queue.popleft()
        task = envs[i].reset_task(job.seed, job.split)
        budget = max_steps if max_steps is not None else envs[i].max_steps
        slots[i] = _Slot(job=job, task=task, budget=budget)

    def finish(i: int, ended: str, error: str | None = None) -> None:
        slot = slots[i]
        assert slot is not None
        if slot.job.record and camera is not None:
            slot.frames.append(np.array(robots[i].observe().images[camera], copy=True))
        success = envs[i].task_success() if ended != "unsafe" else False
        outcome = envs[i].task_outcome() if ended != "unsafe" else "unsafe"
        record = EpisodeRecord(
            index=slot.job.index,
            split=slot.task.split,
            seed=slot.job.seed,
            family=slot.task.family,
            instruction=slot.task.instruction,
            success=bool(success),
            steps=slot.steps,
            ended=ended,
            error=error,
            outcome=outcome,
            frames=slot.frames,
        )
        records.append(record)
        if on_episode is not None:
            on_episode(record)
        begin(i)

    try:
        t0 = time.perf_counter()
        for i in range(len(robots)):
            begin(i)
        timings.env += time.perf_counter() - t0
        while any(s is not None for s in slots):
            live = [(i, s) for i, s in enumerate(slots) if s is not None]
            t0 = time.perf_counter()
            observations = [robots[i].observe() for i, _ in live]
            timings.env += time.perf_counter() - t0
            for (_, slot), obs in zip(live, observations):
                if slot.job.record and camera is not None:
                    slot.frames.append(np.array(obs.images[camera], copy=True))
            ask = [k for k, (_, slot) in enumerate(live) if not slot.pending]
            if ask:
                t0 = time.perf_counter()
                out = policy.act_batch(
                    [observations[k] for k in ask], [live[k][1].task.instruction for k in ask]
                )
                timings.policy += time.perf_counter() - t0
                timings.policy_calls += 1
                for k, chunk in zip(ask, _split_batch(out, len(ask), space.dim)):
                    live[k][1].pending.extend(chunk)
            t0 = time.perf_counter()
            for i, slot in live:
                try:
                    command = safety.filter(slot.pending.popleft(), slot.last)
                except UnsafeAction as exc:
                    safe_stop_quietly(robots[i])
                    finish(i, "unsafe", str(exc))
                    continue
                robots[i].act(command)
                slot.last = command
                slot.steps += 1
                timings.steps += 1
                if envs[i].task_done():
                    finish(i, "done")
                elif slot.steps >= slot.budget:
                    finish(i, "max_steps")
            timings.env += time.perf_counter() - t0
    except BaseException:
        for robot in robots:
            safe_stop_quietly(robot)
        raise
    timings.total = time.perf_counter() - start
    records.sort(key=lambda r: r.index)
    return records, timings
