"""The plugin's commands: emulate (a subprocess on a pty), calibrate, teleop, bench."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import yaml
from vlakit_serial_arm.emulator.from_profile import emulator_for_profile
from vlakit_serial_arm.emulator.process import emulate_process
from vlakit_serial_arm.profile import load_profile

from vlakit.cli.main import main


def test_emulate_prints_its_port_first_and_serves(tmp_path):
    out = tmp_path / "cal.yaml"
    with emulate_process("koch-follower", "--silent", "6", timeout=30) as (port, proc):
        assert port.startswith("/dev/pts/")
        assert main(["calibrate", "--robot", "koch-follower", "--port", port, "--non-interactive", "-o", str(out)]) == 2
    assert proc.returncode == 0
    assert not out.exists()  # motor 6 is silent: nothing half written


def test_calibrate_non_interactive_writes_a_file(tmp_path, capsys):
    with emulator_for_profile(load_profile("so101-follower")) as emu:
        out = tmp_path / "so.yaml"
        assert main(["calibrate", "--robot", "so101-follower", "--port", emu.port, "--non-interactive", "-o", str(out)]) == 0
    data = yaml.safe_load(out.read_text())
    assert data["profile"] == "so101-follower" and data["motors"]["gripper"]["zero"] == 2048
    assert str(out) in capsys.readouterr().out


def test_calibrate_default_path_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("VLAKIT_CALIBRATION_DIR", str(tmp_path / "cal"))
    with emulator_for_profile(load_profile("koch-leader")) as emu:
        assert main(["calibrate", "--robot", "koch-leader", "--port", emu.port, "--non-interactive"]) == 0
    assert (tmp_path / "cal" / "koch-leader.yaml").is_file()


def test_wrong_port_exits_2(tmp_path, capsys):
    assert main(["calibrate", "--robot", "so101-follower", "--port", str(tmp_path / "ttyX"), "--non-interactive"]) == 2
    assert "cannot open serial port" in capsys.readouterr().err


@pytest.mark.parametrize(("leader", "follower"), [("so101-leader", "so101-follower"), ("koch-leader", "koch-follower")])
def test_teleop_moves_the_follower_to_the_leader(tmp_path, leader, follower):
    lp, fp = load_profile(leader), load_profile(follower)
    with emulator_for_profile(lp) as lead, emulator_for_profile(fp) as follow:
        cal = {}
        for name, emu in ((leader, lead), (follower, follow)):
            cal[name] = tmp_path / f"{name}.yaml"
            assert main(["calibrate", "--robot", name, "--port", emu.port, "--non-interactive", "-o", str(cal[name])]) == 0
        # a person moves the leader (torque off) away from the zero pose
        offsets = [300, -200, 150, -100, 250, 400]
        with lead.lock:
            for servo, d in zip(lead.servos.values(), offsets):
                servo.move_by_hand(2048 + d)
        argv = [
            "teleop", "--leader", leader, "--leader-port", lead.port, "--follower", follower,
            "--follower-port", follow.port, "--leader-calibration", str(cal[leader]),
            "--follower-calibration", str(cal[follower]), "--hz", "100", "--ticks", "60",
        ]
        assert main(argv) == 0
        with follow.lock:
            reached = np.array([s.get("present_position") for s in follow.servos.values()])
        np.testing.assert_allclose(reached, 2048 + np.array(offsets), atol=3)
        # the follower was stopped safely at the end (torque off, holding where it was)
        assert all(s.get("torque_enable") == 0 for s in follow.servos.values())


def test_teleop_refuses_arms_of_different_shapes(tmp_path, capsys):
    with emulator_for_profile(load_profile("so101-leader")) as lead, emulator_for_profile(load_profile("so101-follower")) as follow:
        leader_profile = tmp_path / "small.yaml"
        data = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "../vlakit_serial_arm/profiles/so101-leader.yaml")))
        data["serial-arm"] = "small-leader"
        del data["motors"]["gripper"]
        leader_profile.write_text(yaml.safe_dump(data))
        cal = tmp_path / "c.yaml"
        assert main(["calibrate", "--robot", str(leader_profile), "--port", lead.port, "--non-interactive", "-o", str(cal)]) == 0
        fcal = tmp_path / "f.yaml"
        assert main(["calibrate", "--robot", "so101-follower", "--port", follow.port, "--non-interactive", "-o", str(fcal)]) == 0
        argv = ["teleop", "--leader", str(leader_profile), "--leader-port", lead.port, "--follower", "so101-follower",
                "--follower-port", follow.port, "--leader-calibration", str(cal), "--follower-calibration", str(fcal), "--ticks", "2"]
        assert main(argv) == 2
    assert "cannot drive follower" in capsys.readouterr().err


def test_bench_prints_figures(capsys):
    t0 = time.monotonic()
    assert main(["bench", "serial-arm", "--profile", "koch-follower", "--ticks", "50"]) == 0
    out = capsys.readouterr().out
    assert "bytes written  64.0 (protocol minimum 64)" in out and "ticks/s" in out
    assert time.monotonic() - t0 < 30


def test_interactive_calibration_refuses_motors_that_did_not_move(tmp_path, capsys, monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("\n\n"))  # Enter, Enter: nothing was moved
    out = tmp_path / "cal.yaml"
    with emulator_for_profile(load_profile("so101-follower")) as emu:
        assert main(["calibrate", "--robot", "so101-follower", "--port", emu.port, "-o", str(out)]) == 2
    captured = capsys.readouterr()
    assert "zero pose" in captured.out and "whole range" in captured.out
    assert "did not move during calibration" in captured.err
    assert not out.exists()
