"""Robot profiles: the packaged ones load; mistakes are clear errors; `vlakit validate` checks them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from vlakit_serial_arm.errors import ProfileError
from vlakit_serial_arm.profile import load_profile, packaged_profiles

from vlakit.cli.main import main


def test_packaged_profiles():
    assert packaged_profiles() == ["koch-follower", "koch-leader", "so101-follower", "so101-leader"]
    koch = load_profile("koch-follower")
    assert {m.model for m in koch.motors.values()} == {"xl430-w250", "xl330-m288"}  # a mixed bus
    so101 = load_profile("so101-leader")
    assert so101.role == "leader" and so101.protocol == "feetech" and len(so101.motors) == 6
    assert so101.motors["gripper"].unit == "percent" and so101.motors["gripper"].limits == (0, 100)


def write_profile(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load((Path(__file__).parents[1] / "vlakit_serial_arm/profiles/so101-follower.yaml").read_text())
    data["serial-arm"] = "my-arm"
    for key, value in changes.items():
        if key.startswith("motor_"):
            data["motors"]["gripper"].update(value)
        else:
            data[key] = value
    path = tmp_path / "my-arm.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_user_profile_is_a_file(tmp_path):
    profile = load_profile(write_profile(tmp_path))
    assert profile.name == "my-arm"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"motor_": {"id": 1}}, "share id 1"),
        ({"motor_": {"model": "sts9999"}}, "unknown servo model 'sts9999'"),
        ({"motor_": {"model": "xl330-m288"}}, "on a feetech bus"),
        ({"motor_": {"limits": [0, 150]}}, "percent limits"),
        ({"protocol": "canbus"}, "protocol"),
        ({"speed": 3}, "speed"),
    ],
)
def test_profile_mistakes(tmp_path, change, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(write_profile(tmp_path, **change))


def test_unknown_profile_lists_packaged():
    with pytest.raises(ProfileError, match="so101-follower"):
        load_profile("so102-follower")


def test_validate_cli_checks_profiles(tmp_path, capsys):
    assert main(["validate", str(write_profile(tmp_path))]) == 0
    assert "valid serial-arm robot profile (my-arm" in capsys.readouterr().out
    bad = write_profile(tmp_path, motor_={"id": 1, "spin": True})
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "motors.gripper.spin: unknown key 'spin'" in err and "my-arm.yaml:" in err
