"""Full sessions of the serial-arm driver on emulated SO-101 and Koch arms over a real pty."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from vlakit_serial_arm.calibrate import calibrate_from_limits, calibrate_interactive
from vlakit_serial_arm.calibration import load_calibration, save_calibration
from vlakit_serial_arm.config import SerialArmConfig
from vlakit_serial_arm.driver import SerialArmDriver, open_checked_bus
from vlakit_serial_arm.emulator import Emulator
from vlakit_serial_arm.emulator.from_profile import emulator_for_profile
from vlakit_serial_arm.errors import BusError, CalibrationError
from vlakit_serial_arm.profile import load_profile

from vlakit import RobotError, UnsafeAction
from vlakit.runtime.loop import run_episode
from vlakit.testing import check_robot_driver


@pytest.fixture(params=["so101-follower", "koch-follower"])
def arm(request, tmp_path) -> Iterator[tuple[Emulator, str]]:
    """An emulated arm (zero pose off mid-encoder) and its calibration file, calibrated over the bus."""
    profile = load_profile(request.param)
    positions = {name: 1900 + 20 * k for k, name in enumerate(profile.motors)}
    with emulator_for_profile(profile, positions) as emu:
        bus = open_checked_bus(profile, emu.port)
        try:
            calibration = calibrate_from_limits(bus, profile)
        finally:
            bus.transport.close()
        path = tmp_path / f"{profile.name}.yaml"
        save_calibration(calibration, path)
        yield emu, str(path)


def driver_for(emu: Emulator, calibration: str, profile: str | None = None) -> SerialArmDriver:
    name = profile or ("so101-follower" if emu.protocol == "feetech" else "koch-follower")
    return SerialArmDriver(SerialArmConfig(profile=name, port=emu.port, calibration=calibration))


def test_full_session(arm):
    emu, calibration = arm
    driver = driver_for(emu, calibration)
    with driver:
        state = driver.observe().state
        np.testing.assert_allclose(state, 0.0, atol=0.1)  # calibrated zero pose
        assert all(s.get("torque_enable") == 1 for s in emu.servos.values())
        target = np.array([20.0, -15.0, 10.0, 5.0, -30.0, 40.0], dtype=np.float32)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            state = driver.observe().state
            if np.allclose(state, target, atol=0.5):
                break
            driver.act(target)
            time.sleep(0.01)
        np.testing.assert_allclose(state, target, atol=0.5)
        driver.safe_stop()
        assert all(s.get("torque_enable") == 0 for s in emu.servos.values())
        held = np.array([s.get("goal_position") for s in emu.servos.values()])
        present = np.array([s.get("present_position") for s in emu.servos.values()])
        # the goal is the position read just before torque went off (a moving joint may have
        # gone a step further between the read and the write)
        np.testing.assert_allclose(held, present, atol=8)
        driver.safe_stop()  # already safe: nothing happens
    assert not driver.is_connected


def test_act_is_bounded_per_tick_around_present_positions(arm):
    emu, calibration = arm
    with driver_for(emu, calibration) as driver:
        before = driver.observe().state
        driver.act(np.array([90, 90, 90, 90, 90, 100], dtype=np.float32))
        driver.read_raw()  # a round trip: the emulator has applied the (unanswered) sync write
        goals = np.array([s.get("goal_position") for s in emu.servos.values()])
        step = driver.normalizer.to_units(goals) - before
        np.testing.assert_allclose(step, driver.profile.max_steps(), atol=0.2)
        with pytest.raises(UnsafeAction):
            driver.act(np.array([np.nan, 0, 0, 0, 0, 0], dtype=np.float32))


def test_driver_conformance_on_the_embedded_emulator():
    check_robot_driver(SerialArmDriver(SerialArmConfig(profile="koch-follower", emulate=True)))


def test_run_loop_on_an_emulated_arm():
    class Reach:
        def __init__(self, space):
            self.action_space = space

        def act(self, observation, instruction):
            return np.full(self.action_space.dim, 15.0, dtype=np.float32)

    with SerialArmDriver(SerialArmConfig(profile="so101-follower", emulate=True)) as driver:
        result = run_episode(driver, Reach(driver.action_space), "reach", max_steps=10, hz=0, stall_timeout=None)
        timing = result.timing()
        assert result.steps == 10 and len(result.tick_seconds) == 10 and timing["p99_ms"] >= timing["p50_ms"] > 0


def test_missing_and_mismatched_calibration(arm, tmp_path):
    emu, calibration = arm
    with pytest.raises(CalibrationError, match="no calibration for .* run `vlakit calibrate"):
        driver_for(emu, str(tmp_path / "none.yaml")).connect()
    other = "koch-follower" if emu.protocol == "feetech" else "so101-follower"
    with pytest.raises(CalibrationError, match="does not match the arm"):
        load_calibration(calibration, load_profile(other))


def test_connect_checks_model_numbers(tmp_path):
    # a Koch leader bus (XL330-M077) where the follower profile expects XL430/XL330-M288
    with emulator_for_profile(load_profile("koch-leader")) as emu:
        with pytest.raises(BusError, match="model number 1190, expected 1060"):
            open_checked_bus(load_profile("koch-follower"), emu.port)


def test_connect_names_silent_motors(arm):
    emu, calibration = arm
    emu.faults.silent = {3}
    with pytest.raises(BusError, match=r"elbow_flex \(id 3\): no reply"):
        driver_for(emu, calibration).connect()


def test_a_leader_is_not_commanded(tmp_path):
    profile = load_profile("so101-leader")
    with emulator_for_profile(profile) as emu:
        bus = open_checked_bus(profile, emu.port)
        calibration = calibrate_from_limits(bus, profile)
        bus.transport.close()
        save_calibration(calibration, tmp_path / "l.yaml")
        leader = SerialArmDriver(SerialArmConfig(profile="so101-leader", port=emu.port, calibration=str(tmp_path / "l.yaml")))
        with leader:
            assert all(s.get("torque_enable") == 0 for s in emu.servos.values())
            with pytest.raises(RobotError, match="leader arm"):
                leader.act(np.zeros(6, dtype=np.float32))


def test_interactive_calibration_records_ranges():
    profile = load_profile("so101-follower")
    with emulator_for_profile(profile) as emu:
        bus = open_checked_bus(profile, emu.port)
        presses = iter(range(2))

        def wait_enter():
            if next(presses) == 1:  # during the range step: the user moves the joints
                for k, servo in enumerate(emu.servos.values()):
                    with emu.lock:
                        servo.move_by_hand(1500 + k)
                    time.sleep(0.05)
                    with emu.lock:
                        servo.move_by_hand(2600 + k)
                time.sleep(0.05)

        try:
            calibration = calibrate_interactive(bus, profile, lambda text: None, wait_enter, period=0.005)
        finally:
            bus.transport.close()
    cal = calibration.motors["elbow_flex"]
    assert (cal.zero, cal.min, cal.max) == (2048, 1502, 2602)


def test_watchdog_holds_the_present_position():
    with SerialArmDriver(SerialArmConfig(profile="so101-follower", emulate=True)) as driver:
        emu = driver.emulator
        servo = emu.servos[1]
        servo.speed = 40.0  # a slow joint: 114 steps to go take ~3 s
        driver.observe()
        driver.act(np.array([10, 0, 0, 0, 0, 0], dtype=np.float32))
        driver.read_raw()
        commanded = servo.get("goal_position")
        assert commanded > 2100
        time.sleep(driver.profile.safety.watchdog_s + 0.4)  # no command since: the watchdog holds
        with emu.lock:
            goal, present = servo.get("goal_position"), servo.get("present_position")
        assert goal < commanded - 40 and abs(goal - present) <= 3


@pytest.mark.parametrize(("profile", "error", "words"), [
    ("koch-follower", 0x80, ["alert (hardware error)", "overheating", "overload"]),
    ("so101-follower", 0x20, ["overload"]),
])
def test_hardware_alerts_are_reported_in_words(profile, error, words, caplog):
    with SerialArmDriver(SerialArmConfig(profile=profile, emulate=True)) as driver:
        emu = driver.emulator
        with emu.lock:
            if emu.protocol == "dynamixel":
                emu.servos[2].set("hardware_error_status", 0b100100)  # overheating, overload
            emu.faults.error_bits = {2: error}
        with caplog.at_level("WARNING"):
            state = driver.observe().state  # the positions are still values (a warning, not an error)
        assert state.shape == (6,)
        assert driver.alerts == {"shoulder_lift": words}
        assert "motor shoulder_lift (id 2) reports" in caplog.text


def test_a_command_after_safe_stop_resumes_from_the_present_pose():
    with SerialArmDriver(SerialArmConfig(profile="so101-follower", emulate=True)) as driver:
        emu = driver.emulator
        driver.safe_stop()
        with emu.lock:
            emu.servos[1].move_by_hand(2048 + 300)  # the limp arm was moved meanwhile
        before = driver.observe().state
        driver.act(np.zeros(6, dtype=np.float32))  # far from where the arm now is
        driver.read_raw()
        with emu.lock:
            assert all(s.get("torque_enable") == 1 for s in emu.servos.values())
            goal = driver.normalizer.to_units(np.array([s.get("goal_position") for s in emu.servos.values()]))
        assert abs(goal[0] - before[0]) <= driver.profile.max_steps()[0] + 0.1  # no jump back
