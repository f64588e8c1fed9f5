"""Conformance check for robot drivers (and task environments)."""

from __future__ import annotations

import math

import numpy as np

from vlakit.interfaces.robot import RobotDriver, Task, TaskEnvironment
from vlakit.types import ActionSpace, CameraSpec, Observation


def _check_observation(driver: RobotDriver, obs: Observation, where: str) -> None:
    name = type(driver).__name__
    assert isinstance(obs, Observation), (
        f"{name}.observe() {where} returned {type(obs).__name__}, not Observation"
    )
    cameras = driver.cameras
    assert set(obs.images) == set(cameras), (
        f"{name}.observe() {where}: image keys {sorted(obs.images)} != cameras {sorted(cameras)}"
    )
    for cam, spec in cameras.items():
        img = obs.images[cam]
        assert isinstance(img, np.ndarray), (
            f"{name}: image {cam!r} is {type(img).__name__}, not a numpy array"
        )
        assert img.dtype == np.uint8, f"{name}: image {cam!r} has dtype {img.dtype}, expected uint8"
        assert img.shape == (spec.height, spec.width, 3), (
            f"{name}: image {cam!r} has shape {img.shape}, camera spec says {(spec.height, spec.width, 3)}"
        )
    states = driver.state_names
    if states:
        s = obs.state
        assert isinstance(s, np.ndarray), (
            f"{name}: state_names {states} declared but observe().state is {s!r}"
        )
        assert s.dtype == np.float32, f"{name}: state has dtype {s.dtype}, expected float32"
        assert s.shape == (len(states),), f"{name}: state has shape {s.shape}, expected {(len(states),)}"
        assert np.all(np.isfinite(s)), f"{name}: state {s.tolist()} is not finite"
    else:
        assert obs.state is None or np.asarray(obs.state).size == 0, (
            f"{name}: observe().state is set but state_names is empty"
        )
    assert isinstance(obs.timestamp, (int, float)) and math.isfinite(obs.timestamp), (
        f"{name}: timestamp {obs.timestamp!r} is not a finite number"
    )


def _check_action_space(driver: RobotDriver) -> ActionSpace:
    name = type(driver).__name__
    space = driver.action_space
    assert isinstance(space, ActionSpace), f"{name}.action_space is {type(space).__name__}, not ActionSpace"
    assert space.dim > 0, f"{name}: action space has no dimensions"
    assert len(set(space.names)) == space.dim, f"{name}: action names repeat: {space.names}"
    assert all(isinstance(u, str) and u for u in space.units), f"{name}: every action dimension needs a unit"
    low, high = space.low_array, space.high_array
    assert np.all(np.isfinite(low)) and np.all(np.isfinite(high)), f"{name}: action limits must be finite"
    assert np.all(low < high), f"{name}: action limits must have low < high: {space.low} vs {space.high}"
    return space


def _check_task_environment(driver: RobotDriver, mid: np.ndarray) -> None:
    assert isinstance(driver, TaskEnvironment)
    name = type(driver).__name__
    splits = driver.splits
    assert splits and all(isinstance(s, str) and s for s in splits), f"{name}.splits is empty or not strings"
    assert isinstance(driver.max_steps, int) and driver.max_steps > 0, (
        f"{name}.max_steps must be a positive int"
    )
    for split in splits:
        task = driver.reset_task(7, split)
        assert isinstance(task, Task), f"{name}.reset_task returned {type(task).__name__}, not Task"
        assert isinstance(task.instruction, str) and task.instruction.strip(), f"{name}: empty instruction"
        assert isinstance(task.family, str) and task.family, f"{name}: task has no family"
        assert task.split == split, (
            f"{name}: reset_task(7, {split!r}) returned a task of split {task.split!r}"
        )
        first = driver.observe()
        _check_observation(driver, first, f"after reset_task(7, {split!r})")
        ok = driver.task_success()
        assert isinstance(ok, (bool, np.bool_)), (
            f"{name}.task_success() returned {type(ok).__name__}, not bool"
        )
        driver.act(mid)
        _check_observation(driver, driver.observe(), "after act() in a task")
        again = driver.reset_task(7, split)
        assert again.instruction == task.instruction and again.family == task.family, (
            f"{name}: reset_task(7, {split!r}) is not deterministic: {task.instruction!r} vs {again.instruction!r}"
        )
        for cam, img in driver.observe().images.items():
            assert np.array_equal(img, first.images[cam]), (
                f"{name}: camera {cam!r} differs between two reset_task(7, {split!r}) calls"
            )


def check_robot_driver(driver: RobotDriver, steps: int = 3) -> None:
    """Check that ``driver`` honours the :class:`~vlakit.interfaces.robot.RobotDriver` contract.

    Connects, observes (image keys, dtypes and shapes match :attr:`cameras`; state matches
    :attr:`state_names`), acts ``steps`` times with the mid-range action, checks
    :meth:`safe_stop` is idempotent and disconnects. Drivers that are also a
    :class:`~vlakit.interfaces.robot.TaskEnvironment` get their tasks checked on every split
    (deterministic by seed, success is a bool). The driver is disconnected at the end.
    """
    name = type(driver).__name__
    assert isinstance(driver, RobotDriver), f"{name} is not a vlakit RobotDriver"
    space = _check_action_space(driver)
    cameras = driver.cameras
    assert isinstance(cameras, dict), f"{name}.cameras must be a dict of CameraSpec"
    for key, spec in cameras.items():
        assert isinstance(spec, CameraSpec) and spec.name == key, f"{name}: camera {key!r} spec is {spec!r}"
        assert spec.height > 0 and spec.width > 0, (
            f"{name}: camera {key!r} has size {spec.height}x{spec.width}"
        )
    assert driver.control_hz > 0, f"{name}.control_hz must be positive"
    assert not driver.is_connected, f"{name} reports connected before connect()"
    mid = ((space.low_array + space.high_array) / 2).astype(np.float32)
    driver.connect()
    try:
        assert driver.is_connected, f"{name}.is_connected is False after connect()"
        _check_observation(driver, driver.observe(), "after connect()")
        for _ in range(steps):
            driver.act(mid)
            _check_observation(driver, driver.observe(), "after act()")
        if isinstance(driver, TaskEnvironment):
            _check_task_environment(driver, mid)
        driver.safe_stop()
        driver.safe_stop()
        _check_observation(driver, driver.observe(), "after safe_stop()")
    finally:
        try:
            driver.safe_stop()
        finally:
            driver.disconnect()
    assert not driver.is_connected, f"{name}.is_connected is True after disconnect()"
