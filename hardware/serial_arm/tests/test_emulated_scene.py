"""Dry-run helpers of the emulator: the emulated camera (a drawing of the joint state) and the
scripted hand that moves a leader arm, over real pseudo-terminals."""

from __future__ import annotations

import time

import numpy as np
import pytest
import yaml
from vlakit_serial_arm.config import SerialArmConfig
from vlakit_serial_arm.driver import SerialArmDriver
from vlakit_serial_arm.emulator.camera import draw_joint_state
from vlakit_serial_arm.emulator.from_profile import emulator_for_profile
from vlakit_serial_arm.emulator.motion import ScriptedMotion
from vlakit_serial_arm.profile import load_profile
from vlakit_serial_arm.teleop import teleoperate

from vlakit.cli.main import main

UNITS = ("deg",) * 5 + ("percent",)
CAMERAS = {"front": {"source": "emulated", "height": 48, "width": 40}}


def test_the_drawing_follows_the_joints():
    rest = draw_joint_state(np.zeros(6, np.float32), UNITS, 64, 64)
    assert rest.shape == (64, 64, 3) and rest.dtype == np.uint8
    assert np.array_equal(rest, draw_joint_state(np.zeros(6, np.float32), UNITS, 64, 64))
    bent = draw_joint_state(np.array([0, 30, 0, 0, 0, 0], np.float32), UNITS, 64, 64)
    opened = draw_joint_state(np.array([0, 0, 0, 0, 0, 100], np.float32), UNITS, 64, 64)
    assert (bent != rest).any(axis=-1).sum() > 20
    assert 0 < (opened != rest).any(axis=-1).sum() < (bent != rest).any(axis=-1).sum()


def test_scripted_motion_starts_at_zero_and_its_clock_runs_only_while_read():
    profile = load_profile("so101-leader")
    motion = ScriptedMotion(profile, "wave", period_s=4.0, max_gap=0.1)
    assert np.allclose(motion.pose(0.0), 0.0)
    poses = np.stack([motion.pose(t) for t in np.linspace(0, 4, 41)])
    low = np.array([m.limits[0] for m in profile.motors.values()])
    high = np.array([m.limits[1] for m in profile.motors.values()])
    assert (poses >= low).all() and (poses <= high).all()
    assert (poses.max(0) - poses.min(0) > 10).all()  # every joint (and the gripper) moves
    emu = emulator_for_profile(profile)
    motion.advance(emu.servos, now=100.0)
    motion.advance(emu.servos, now=160.0)  # a minute without packets: the hand waited
    assert motion.t == pytest.approx(0.1)
    with pytest.raises(ValueError, match="known motions: wave"):
        ScriptedMotion(profile, "dance")


def test_a_driver_with_an_emulated_camera_sees_its_arm_move():
    config = SerialArmConfig(profile="so101-follower", emulate=True, cameras=CAMERAS)
    with SerialArmDriver(config) as arm:
        assert set(arm.cameras) == {"front"} and (arm.cameras["front"].height, arm.cameras["front"].width) == (48, 40)
        first = arm.observe()
        assert first.images["front"].shape == (48, 40, 3)
        target = first.state + np.array([8, -8, 8, 0, 0, 15], np.float32)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not np.allclose(arm.observe().state, target, atol=1.0):
            arm.act(target)
            time.sleep(0.02)
        last = arm.observe()
    assert np.allclose(last.state, target, atol=1.0)
    assert not np.array_equal(first.images["front"], last.images["front"])
    assert np.array_equal(last.images["front"], draw_joint_state(last.state, UNITS, 48, 40))


def test_teleop_from_a_scripted_leader_reports_each_tick(tmp_path):
    leader_profile = load_profile("so101-leader")
    lead_emu = emulator_for_profile(leader_profile)
    lead_emu.motion = ScriptedMotion(leader_profile, "wave", period_s=1.0)
    with lead_emu:
        calibration = tmp_path / "leader.yaml"
        command = ["calibrate", "--robot", "so101-leader", "--port", lead_emu.port, "--non-interactive"]
        assert main([*command, "-o", str(calibration)]) == 0
        zeros = [m["zero"] for m in yaml.safe_load(calibration.read_text())["motors"].values()]
        assert max(abs(z - 2048) for z in zeros) < 60  # a one-shot read saw the start pose
        lead = SerialArmDriver(SerialArmConfig(profile="so101-leader", port=lead_emu.port, calibration=str(calibration)))
        follow = SerialArmDriver(SerialArmConfig(profile="so101-follower", emulate=True, cameras=CAMERAS))
        seen = []
        with lead, follow:
            result = teleoperate(lead, follow, hz=100, max_ticks=40, on_step=lambda o, a: seen.append((o, a.copy())))
    assert result.ticks == 40 and len(seen) == 40
    actions = np.stack([a for _, a in seen])
    states = np.stack([o.state for o, _ in seen])
    assert np.ptp(actions, axis=0).max() > 5  # the scripted hand moved the leader
    assert np.abs(states[-1] - actions[-3]).max() < 10  # the follower followed a few ticks behind
    assert all(o.images["front"].shape == (48, 40, 3) for o, _ in seen)


def test_teleop_record_needs_a_task_and_good_cameras(capsys):
    args = ["teleop", "--leader", "so101-leader", "--leader-port", "/dev/null", "--follower", "so101-follower",
            "--follower-port", "/dev/null"]
    assert main([*args, "--record", "/tmp/never-written"]) == 2
    assert "--record needs --task" in capsys.readouterr().err
    assert main([*args, "--follower-cameras", "{front: {source: emulated, height: -1}}"]) == 2
    assert "--follower-cameras: front.height: Input should be greater than 0" in capsys.readouterr().err


def test_driver_with_an_emulated_camera_passes_the_conformance_checks():
    from vlakit.testing import check_robot_driver

    check_robot_driver(SerialArmDriver(SerialArmConfig(profile="so101-follower", emulate=True, cameras=CAMERAS)))
