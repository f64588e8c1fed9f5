"""The whole loop on an emulated SO-101, as a user with an arm runs it: emulated servos on
pseudo-terminals -> calibrate -> teleop --record from a scripted leader -> train
recipes/so101-tiny.yaml a few steps (it exports a bundle) -> vlakit run the bundle on the arm,
recording the run -> the recordings read back."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import yaml
from vlakit_serial_arm.emulator import Emulator
from vlakit_serial_arm.emulator.from_profile import emulator_for_profile
from vlakit_serial_arm.emulator.motion import ScriptedMotion
from vlakit_serial_arm.emulator.process import emulate_process
from vlakit_serial_arm.profile import load_profile

from vlakit.cli.main import main
from vlakit.plugins import get_registry
from vlakit.policy import Policy

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "so101-tiny.yaml"
CAMERAS = "{front: {source: emulated, height: 64, width: 64}}"


@contextmanager
def emulated_arms(arm: str = "so101") -> Iterator[tuple[Emulator, Emulator]]:
    """An ``arm`` (so101, koch) leader moved by a scripted hand and a follower, in this process (started)."""
    leader = emulator_for_profile(load_profile(f"{arm}-leader"))
    leader.motion = ScriptedMotion(load_profile(f"{arm}-leader"), "wave", period_s=1.0)
    follower = emulator_for_profile(load_profile(f"{arm}-follower"))
    with leader, follower:
        yield leader, follower


def run_cli(capsys, *args: str) -> str:
    code = main(list(args))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def read_dataset(root: Path):
    return get_registry().build("dataset", {"type": "lerobot", "root": str(root)})


def whole_loop(tmp_path: Path, capsys, leader_port: str, follower_port: str, goal_of_follower, *,
               episodes: int, episode_s: float, train_steps: int, run_steps: int, arm_name: str = "so101") -> None:
    data, runs = tmp_path / "data" / f"{arm_name}-wave", tmp_path / "runs"
    for profile, port in ((f"{arm_name}-leader", leader_port), (f"{arm_name}-follower", follower_port)):
        run_cli(capsys, "calibrate", "--robot", profile, "--port", port, "--non-interactive")
    out = run_cli(capsys, "teleop", "--leader", f"{arm_name}-leader", "--leader-port", leader_port,
                  "--follower", f"{arm_name}-follower", "--follower-port", follower_port, "--hz", "40",
                  "--follower-cameras", CAMERAS, "--record", str(data), "--task", "wave the arm",
                  "--episodes", str(episodes), "--episode-s", str(episode_s))
    assert f"recorded {episodes} episodes of 'wave the arm'" in out
    recorded = read_dataset(data)
    assert recorded.num_episodes == episodes
    first = recorded.episode(0)
    assert first.instruction == "wave the arm" and first.images["front"].shape[1:] == (64, 64, 3)
    assert np.ptp(first.actions, axis=0).max() > 2  # the scripted hand moved the leader

    out = run_cli(capsys, "train", str(RECIPE), f"data.train.0.root={data}", f"output_dir={runs}",
                  f"trainer.max_steps={train_steps}", "trainer.batch_size=4", "trainer.warmup_steps=1",
                  "trainer.num_threads=1")
    assert "no evaluation: robot 'serial-arm' sets up no tasks" in out
    bundle = Path(re.search(r"bundle: (\S+)", out).group(1))
    policy = Policy.load(bundle)
    from vlakit_serial_arm.config import SerialArmConfig
    from vlakit_serial_arm.driver import SerialArmDriver

    arm_space = SerialArmDriver(SerialArmConfig(profile=f"{arm_name}-follower", emulate=True)).action_space
    assert policy.action_space.mismatch(arm_space) is None  # names and units of the arm

    arm = tmp_path / "arm.yaml"
    arm.write_text(yaml.safe_dump({"type": "serial-arm", "profile": f"{arm_name}-follower", "port": follower_port,
                                   "cameras": yaml.safe_load(CAMERAS)}))
    before = goal_of_follower()
    out = run_cli(capsys, "run", str(bundle), "--robot", str(arm), "-i", "wave the arm",
                  "--max-steps", str(run_steps), "--hz", "0", "--record", str(tmp_path / "runs-recorded"))
    assert re.search(r"rate [\d.]+ Hz; loop time p50 [\d.]+ ms, p99 [\d.]+ ms; overruns \d+", out), out
    assert f"{run_steps} steps" in out
    if before is not None:
        assert goal_of_follower() != before  # the bundle's commands moved the arm
    ran = read_dataset(tmp_path / "runs-recorded")
    assert ran.num_episodes == 1
    episode = ran.episode(0)
    assert len(episode.actions) == run_steps and episode.instruction == "wave the arm"
    if before is None:  # the arm is in another process: its recorded joints moved
        assert np.ptp(episode.states, axis=0).max() > 0.5

    if arm_name != "so101":
        return
    # the recipe's own robot: an in-process emulated SO-101 with the emulated camera
    out = run_cli(capsys, "run", str(bundle), "-i", "wave the arm", "--max-steps", "2", "--hz", "0")
    assert "2 steps" in out and "overruns" in out
    # an arm whose motors differ (no gripper) is refused before any command
    five = yaml.safe_load((resources.files("vlakit_serial_arm") / "profiles" / "so101-follower.yaml").read_text())
    del five["motors"]["gripper"]
    (tmp_path / "five.yaml").write_text(yaml.safe_dump(five))
    arm.write_text(yaml.safe_dump({"type": "serial-arm", "profile": str(tmp_path / "five.yaml"), "emulate": True,
                                   "cameras": yaml.safe_load(CAMERAS)}))
    assert main(["run", str(bundle), "--robot", str(arm), "-i", "wave the arm", "--max-steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "another action space than this robot's" in err and "no command was sent" in err
    assert ran.action_space.mismatch(arm_space) is None


@pytest.mark.parametrize("arm_name", ["so101", "koch"])
def test_the_whole_loop_on_an_emulated_arm(tmp_path, capsys, monkeypatch, arm_name):
    """SO-101 (Feetech STS3215) and Koch v1.1 (a mixed Dynamixel XL430/XL330 bus): record, train
    (the so101-tiny recipe on the arm's own data), run the bundle on the arm."""
    monkeypatch.setenv("VLAKIT_CALIBRATION_DIR", str(tmp_path / "calibration"))
    with emulated_arms(arm_name) as (leader, follower):
        def goals():
            with follower.lock:
                return [s.get("goal_position") for s in follower.servos.values()]

        whole_loop(tmp_path, capsys, leader.port, follower.port, goals,
                   episodes=2, episode_s=0.25, train_steps=2, run_steps=4, arm_name=arm_name)


@pytest.mark.slow
def test_the_whole_loop_with_emulate_processes(tmp_path, capsys, monkeypatch):
    """The commands of docs/robots.md, with `vlakit emulate` processes and longer episodes."""
    monkeypatch.setenv("VLAKIT_CALIBRATION_DIR", str(tmp_path / "calibration"))
    with emulate_process("so101-leader", "--motion", "wave") as (leader_port, _), \
            emulate_process("so101-follower") as (follower_port, _):
        whole_loop(tmp_path, capsys, leader_port, follower_port, lambda: None,
                   episodes=3, episode_s=1.0, train_steps=20, run_steps=30)


def test_teleop_record_keeps_the_finished_episodes_when_the_leader_is_lost(tmp_path, capsys, monkeypatch):
    """The leader's bus stops answering during the second episode (of 0.2 s, after 0.1 s): the
    first episode stays, the second is discarded, the follower is stopped safely, and the dataset reads."""
    from vlakit_serial_arm.config import SerialArmConfig
    from vlakit_serial_arm.driver import SerialArmDriver
    from vlakit_serial_arm.errors import BusError
    from vlakit_serial_arm.teleop import record_teleop

    from vlakit.data.recording import open_recording, robot_spec

    monkeypatch.setenv("VLAKIT_CALIBRATION_DIR", str(tmp_path / "calibration"))
    with emulated_arms() as (leader, _):
        run_cli(capsys, "calibrate", "--robot", "so101-leader", "--port", leader.port, "--non-interactive")
        lead = SerialArmDriver(SerialArmConfig(profile="so101-leader", port=leader.port))
        follow = SerialArmDriver(SerialArmConfig(profile="so101-follower", emulate=True, cameras=yaml.safe_load(CAMERAS)))
        root = tmp_path / "data"
        with lead, follow, open_recording(get_registry(), root, robot_spec(follow, 50.0)) as writer:
            def silence_leader_after_first(index, result):  # mid-way through the second episode
                threading.Timer(0.1, lambda: setattr(leader.faults, "silent", set(range(1, 7)))).start()

            with pytest.raises(BusError, match="shoulder_pan|id 1"):
                record_teleop(lead, follow, writer, "wave the arm", episodes=3, ticks_per_episode=10, hz=50,
                              on_episode=silence_leader_after_first)
            torque = [s.get("torque_enable") for s in follow.emulator.servos.values()]
        assert torque == [0] * 6  # the follower was stopped safely
    data = read_dataset(root)
    assert data.num_episodes == 1 and len(data.episode(0).actions) == 10
