"""The safety layer and the control loop, on a small but real in-process robot driver."""

from __future__ import annotations

import _thread
import signal
import threading
import time

import numpy as np
import pytest

from vlakit.errors import RobotError
from vlakit.interfaces.robot import RobotDriver, Task, TaskEnvironment
from vlakit.runtime import (
    PolicyStalled,
    SafetyLayer,
    UnsafeAction,
    run_episode,
)
from vlakit.types import ActionSpace, CameraSpec, Observation

SPACE = ActionSpace(names=("x", "y"), units=("m", "m"), low=(-1.0, -0.5), high=(1.0, 0.5))


class PointArm(RobotDriver):
    """A two-axis position-controlled stage: each command is a target position it moves to.

    ``safe_stop`` freezes it (``mode == "stopped"``); further commands are refused until
    ``connect``. Every command it received is kept in ``commands``.
    """

    def __init__(self, space: ActionSpace = SPACE, fail_at: int | None = None) -> None:
        self.space = space
        self.fail_at = fail_at
        self.position = np.zeros(space.dim, dtype=np.float32)
        self.commands: list[np.ndarray] = []
        self.mode = "off"
        self.stops = 0

    @property
    def action_space(self) -> ActionSpace:
        return self.space

    @property
    def cameras(self) -> dict[str, CameraSpec]:
        return {"top": CameraSpec("top", 8, 8)}

    @property
    def control_hz(self) -> float:
        return 1000.0

    @property
    def is_connected(self) -> bool:
        return self.mode != "off"

    def connect(self) -> None:
        self.mode = "running"

    def observe(self) -> Observation:
        image = np.zeros((8, 8, 3), dtype=np.uint8)
        image[..., 0] = len(self.commands) % 256  # a loaded machine may run hundreds of steps
        return Observation(images={"top": image}, state=self.position.copy(), timestamp=time.monotonic())

    def act(self, action: np.ndarray) -> None:
        if self.mode != "running":
            raise RobotError(f"command while {self.mode}")
        if self.fail_at is not None and len(self.commands) == self.fail_at:
            raise OSError("bus error")
        self.commands.append(np.array(action, copy=True))
        self.position = np.array(action, dtype=np.float32)

    def safe_stop(self) -> None:
        self.stops += 1
        if self.mode == "running":
            self.mode = "stopped"

    def disconnect(self) -> None:
        self.mode = "off"


class ReachTask(PointArm, TaskEnvironment):
    """The stage as a task: done (and successful) once within 0.05 m of the goal."""

    goal = np.array([0.6, 0.3], dtype=np.float32)

    def reset_task(self, seed: int, split: str) -> Task:
        self.position[:] = 0
        return Task("reach the goal", "reach", split, seed)

    def task_success(self) -> bool:
        return bool(np.abs(self.position - self.goal).max() < 0.05)

    def task_done(self) -> bool:
        return self.task_success()


class ScriptedPolicy:
    """A policy-like object returning ``fn(step, observation)``; records calls."""

    def __init__(self, fn, space: ActionSpace = SPACE) -> None:
        self.fn = fn
        self.action_space = space
        self.calls = 0
        self.instructions: list[str] = []

    def act(self, observation: Observation, instruction: str) -> np.ndarray:
        self.calls += 1
        self.instructions.append(instruction)
        return np.asarray(self.fn(self.calls - 1, observation), dtype=np.float32)


# -- safety layer ----------------------------------------------------------------------------


def test_safety_rejects_nan_and_inf() -> None:
    layer = SafetyLayer(SPACE)
    with pytest.raises(UnsafeAction, match="non-finite.*y"):
        layer(np.array([0.0, np.nan]))
    with pytest.raises(UnsafeAction, match="x"):
        layer.filter(np.array([[0.0, 0.0], [np.inf, 0.0]]))
    assert isinstance(UnsafeAction("x"), RobotError)


def test_safety_rejects_wrong_shape() -> None:
    layer = SafetyLayer(SPACE)
    with pytest.raises(UnsafeAction, match="2 numbers"):
        layer(np.zeros(3))
    with pytest.raises(UnsafeAction):
        layer(np.float32(1.0))


def test_safety_clamps_to_limits_batched() -> None:
    layer = SafetyLayer(SPACE)
    out = layer.filter(np.array([[2.0, -3.0], [0.3, 0.2], [-7.0, 0.5]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[1.0, -0.5], [0.3, 0.2], [-1.0, 0.5]])


def test_safety_bounds_change_per_tick() -> None:
    layer = SafetyLayer(SPACE, max_delta=[0.1, 0.2])
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)  # noqa: E731
    close(layer(np.array([0.9, 0.4])), [0.9, 0.4])  # first command: limits only
    close(layer(np.array([-1.0, -0.5])), [0.8, 0.2])
    close(layer(np.array([-1.0, -0.5])), [0.7, 0.0])
    layer.reset()
    np.testing.assert_allclose(layer(np.array([-1.0, -0.5])), [-1.0, -0.5])


def test_safety_delta_by_name_and_batched_last() -> None:
    layer = SafetyLayer(SPACE, max_delta={"y": 0.1})
    last = np.array([[0.0, 0.0], [0.0, 0.45]])
    out = layer.filter(np.array([[1.0, 0.5], [-1.0, -0.5]]), last)
    np.testing.assert_allclose(out, [[1.0, 0.1], [-1.0, 0.35]], rtol=1e-6)


def test_safety_limits_win_over_an_out_of_range_last() -> None:
    layer = SafetyLayer(SPACE, max_delta=0.1)
    out = layer.filter(np.array([5.0, 0.0]), last=np.array([3.0, 0.0]))
    np.testing.assert_allclose(out, [1.0, 0.0])


@pytest.mark.parametrize("bad", [{"z": 0.1}, [0.1, 0.1, 0.1], 0.0, -1.0, [0.1, float("nan")]])
def test_safety_bad_max_delta_is_a_clear_error(bad) -> None:
    with pytest.raises(RobotError, match="max_delta"):
        SafetyLayer(SPACE, max_delta=bad)


# -- control loop ----------------------------------------------------------------------------


def test_loop_runs_and_records_frames() -> None:
    robot = PointArm()
    policy = ScriptedPolicy(lambda t, obs: [0.1 * t, 2.0])
    with robot:
        result = run_episode(robot, policy, "wave", max_steps=5, hz=0)
        assert robot.mode == "running"  # a normal end leaves the robot holding its last command
    assert result.steps == 5 and result.reason == "max_steps"
    assert len(result.frames) == 6 and result.frames[0].shape == (8, 8, 3)
    assert [int(f[0, 0, 0]) for f in result.frames] == [0, 1, 2, 3, 4, 5]
    np.testing.assert_allclose(result.actions[:, 1], 0.5)  # clamped by the safety layer
    np.testing.assert_allclose(np.stack(robot.commands), result.actions)
    assert policy.instructions == ["wave"] * 5
    assert robot.mode == "off" and robot.stops == 1  # `with robot:` stopped and disconnected it


def test_loop_reports_each_step_to_on_step() -> None:
    robot = PointArm()
    policy = ScriptedPolicy(lambda t, obs: [0.1 * t, 2.0])
    seen = []
    with robot:
        result = run_episode(robot, policy, "wave", max_steps=4, hz=0, on_step=lambda o, a: seen.append((o, a)))
    assert len(seen) == 4
    assert [int(o.images[next(iter(o.images))][0, 0, 0]) for o, _ in seen] == [0, 1, 2, 3]  # what it saw
    np.testing.assert_allclose(np.stack([a for _, a in seen]), result.actions)  # what was sent, after safety


def test_loop_applies_delta_bound() -> None:
    robot = PointArm()
    with robot:
        result = run_episode(robot, ScriptedPolicy(lambda t, obs: [1.0, 0.0]), "go", 4, hz=0, max_delta=0.25)
    np.testing.assert_allclose(result.actions[:, 0], [1.0, 1.0, 1.0, 1.0])  # first command unbounded
    robot = PointArm()
    with robot:
        result = run_episode(
            robot, ScriptedPolicy(lambda t, obs: [(-1.0) ** t, 0.0]), "go", 3, hz=0, max_delta=0.25
        )
    np.testing.assert_allclose(result.actions[:, 0], [1.0, 0.75, 1.0])


def test_loop_stops_when_task_done() -> None:
    robot = ReachTask()
    robot.connect()
    robot.reset_task(0, "seen")
    result = run_episode(
        robot, ScriptedPolicy(lambda t, obs: [0.2 * (t + 1), 0.1 * (t + 1)]), "reach", 50, hz=0
    )
    assert result.reason == "done" and result.steps == 3 and robot.task_success()


def test_loop_executes_action_chunks() -> None:
    robot = PointArm()
    chunk = lambda t, obs: [[0.1, 0.0], [0.2, 0.0], [0.3, 0.0]]  # noqa: E731
    policy = ScriptedPolicy(chunk)
    with robot:
        result = run_episode(robot, policy, "go", 7, hz=0)
    assert policy.calls == 3
    np.testing.assert_allclose(result.actions[:, 0], [0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.1])


def test_loop_paces_to_hz() -> None:
    robot = PointArm()
    with robot:
        result = run_episode(robot, ScriptedPolicy(lambda t, obs: [0, 0]), "wait", 5, hz=50)
    assert result.seconds >= 4 / 50 - 0.005


def test_loop_reports_timing_and_counts_overruns() -> None:
    def slow(t, obs):
        if t % 2:  # every other tick takes longer than the 100 Hz period
            time.sleep(0.03)
        return [0, 0]

    with PointArm() as robot:
        result = run_episode(robot, ScriptedPolicy(slow), "wait", 6, hz=100, stall_timeout=None)
    timing = result.timing()
    assert len(result.tick_seconds) == 6 and result.overruns >= 3
    assert timing["p99_ms"] >= 30 and timing["p99_ms"] >= timing["p50_ms"] and 0 < timing["hz"] < 100


def test_mismatched_action_space_is_refused_before_any_command() -> None:
    other = ActionSpace(names=("x", "z"), units=("m", "m"), low=(-1, -1), high=(1, 1))
    robot = PointArm()
    policy = ScriptedPolicy(lambda t, obs: [0, 0], space=other)
    with robot:
        with pytest.raises(RobotError, match="action space.*names differ.*no command was sent"):
            run_episode(robot, policy, "go", 5, hz=0)
    assert robot.commands == [] and policy.calls == 0
    units = ActionSpace(names=("x", "y"), units=("m", "rad"), low=(-1, -1), high=(1, 1))
    with PointArm() as robot2, pytest.raises(RobotError, match="units differ"):
        run_episode(robot2, ScriptedPolicy(lambda t, obs: [0, 0], space=units), "go", 5, hz=0)


def test_unconnected_robot_is_a_clear_error() -> None:
    with pytest.raises(RobotError, match="not connected"):
        run_episode(PointArm(), ScriptedPolicy(lambda t, obs: [0, 0]), "go", 5, hz=0)


def test_nan_action_stops_robot_safely() -> None:
    robot = PointArm()
    robot.connect()
    policy = ScriptedPolicy(lambda t, obs: [0.1, 0.1] if t < 2 else [np.nan, 0.0])
    with pytest.raises(UnsafeAction, match="non-finite"):
        run_episode(robot, policy, "go", 10, hz=0)
    assert len(robot.commands) == 2 and robot.mode == "stopped"


@pytest.mark.parametrize("stall_timeout", [None, 5.0])
def test_policy_exception_stops_robot_safely(stall_timeout) -> None:
    def fn(t, obs):
        if t == 3:
            raise ValueError("model exploded")
        return [0.0, 0.0]

    robot = PointArm()
    robot.connect()
    with pytest.raises(ValueError, match="model exploded"):
        run_episode(robot, ScriptedPolicy(fn), "go", 10, hz=0, stall_timeout=stall_timeout)
    assert len(robot.commands) == 3 and robot.mode == "stopped" and robot.stops == 1


def test_driver_exception_stops_robot_safely() -> None:
    robot = PointArm(fail_at=2)
    robot.connect()
    with pytest.raises(OSError, match="bus error"):
        run_episode(robot, ScriptedPolicy(lambda t, obs: [0.0, 0.0]), "go", 10, hz=0)
    assert robot.mode == "stopped"


@pytest.fixture
def ctrl_c_raises():
    """Python's own SIGINT handler, also when the tests run in a background job (where SIGINT
    starts ignored and ``interrupt_main`` does nothing)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("stall_timeout", [None, 5.0])
def test_ctrl_c_stops_robot_safely(stall_timeout, ctrl_c_raises) -> None:
    """A real SIGINT-style interrupt of the main thread while the policy is thinking."""

    def fn(t, obs):
        if t == 2:
            _thread.interrupt_main()
            time.sleep(0.5 if stall_timeout else 0.0)
        return [0.0, 0.0]

    robot = PointArm()
    robot.connect()
    with pytest.raises(KeyboardInterrupt):
        run_episode(robot, ScriptedPolicy(fn), "go", 1000, hz=0, stall_timeout=stall_timeout)
        time.sleep(1.0)  # interrupt_main from the main thread lands at the next bytecode
    assert robot.mode == "stopped" and len(robot.commands) <= 3


def test_stalled_policy_stops_robot_safely() -> None:
    release = threading.Event()

    def fn(t, obs):
        if t == 2:
            release.wait(10.0)
        return [0.0, 0.0]

    robot = PointArm()
    robot.connect()
    start = time.monotonic()
    with pytest.raises(PolicyStalled, match="0.2 s"):
        run_episode(robot, ScriptedPolicy(fn), "go", 10, hz=0, stall_timeout=0.2)
    assert time.monotonic() - start < 2.0
    assert robot.mode == "stopped" and len(robot.commands) == 2
    release.set()


def test_failing_safe_stop_does_not_hide_the_cause(caplog) -> None:
    class BadStop(PointArm):
        def safe_stop(self) -> None:
            raise OSError("port gone")

    robot = BadStop()
    robot.connect()
    with pytest.raises(UnsafeAction):
        run_episode(robot, ScriptedPolicy(lambda t, obs: [np.inf, 0]), "go", 3, hz=0)
    assert "safe_stop() failed" in caplog.text


def test_loop_drives_the_tabletop_simulator() -> None:
    """The loop on the real simulator driver, with the scripted expert as the policy."""
    pytest.importorskip("vlakit_tabletop")
    from vlakit_tabletop.config import TabletopConfig
    from vlakit_tabletop.driver import TabletopDriver
    from vlakit_tabletop.expert import ScriptedExpert
    from vlakit_tabletop.sim import ACTION_SPACE

    robot = TabletopDriver(TabletopConfig(image_size=32))
    expert = ScriptedExpert(noise=0.0)
    policy = ScriptedPolicy(lambda t, obs: expert.action(robot.scene, robot.spec), space=ACTION_SPACE)
    with robot:
        task = robot.reset_task(3, "seen")
        result = run_episode(robot, policy, task.instruction, robot.max_steps, hz=0, max_delta={"dx": 0.05})
        assert robot.task_success()
    assert result.steps <= robot.max_steps and len(result.frames) == result.steps + 1
    assert np.abs(np.diff(result.actions[:, 0])).max() <= 0.05 + 1e-6
    assert result.frames[0].shape == (32, 32, 3) and result.frames[0].dtype == np.uint8


@pytest.mark.parametrize(
    "answer",
    [np.zeros((2, 3, 2)), np.zeros((1, 1, 2)), np.zeros((0, 2)), np.zeros(3), np.float32(0.5), np.array(["a", "b"])],
)
def test_a_command_of_the_wrong_shape_never_reaches_the_robot(answer) -> None:
    """A policy answering ``[2, 3, 2]`` (or another shape than ``[D]`` / ``[H, D]``) is refused
    before the safety layer: the robot gets no command and is stopped safely."""
    robot = PointArm()
    robot.connect()

    class Odd:
        action_space = SPACE

        def act(self, observation: Observation, instruction: str) -> np.ndarray:
            return answer

    with pytest.raises(UnsafeAction, match="refused"):
        run_episode(robot, Odd(), "go", 3, hz=0)
    assert robot.commands == [] and robot.mode == "stopped"


def test_the_stateful_safety_layer_takes_one_command_at_a_time() -> None:
    with pytest.raises(UnsafeAction, match="one command"):
        SafetyLayer(SPACE)(np.zeros((3, 2)))


# -- the policy worker's thread ends with the episode -----------------------------------------


@pytest.mark.parametrize("fail", [False, True])
def test_an_episode_leaves_no_thread_behind(fail: bool) -> None:
    """The worker thread is joined when the loop ends (normally or not): a thread still alive at
    interpreter exit aborted `vlakit run` ("terminate called without an active exception")."""
    before = set(threading.enumerate())
    robot = PointArm()
    robot.connect()
    policy = ScriptedPolicy(lambda t, obs: [np.nan, 0.0] if fail and t == 1 else [0.0, 0.0])
    if fail:
        with pytest.raises(UnsafeAction):
            run_episode(robot, policy, "go", 3, hz=0, stall_timeout=5.0)
    else:
        run_episode(robot, policy, "go", 3, hz=0, stall_timeout=5.0)
    assert set(threading.enumerate()) - before == set()


def test_a_stalled_call_is_abandoned_and_listed() -> None:
    from vlakit.runtime.worker import PolicyWorker, abandoned_threads

    release = threading.Event()
    earlier = set(abandoned_threads())
    worker = PolicyWorker(0.05)
    assert worker.call(lambda x: x + 1, 1) == 2
    with pytest.raises(PolicyStalled):
        worker.call(release.wait, 10.0)
    worker.close()
    (thread,) = set(abandoned_threads()) - earlier
    assert thread.is_alive()
    release.set()
    thread.join(5.0)
    assert thread not in abandoned_threads()
    with pytest.raises(RobotError, match="stalled earlier"):
        worker.call(lambda: 0)
    closed = PolicyWorker(1.0)
    closed.close()
    with pytest.raises(RobotError, match="closed"):
        closed.call(lambda: 0)
