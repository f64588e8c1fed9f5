"""Control tables are data files with the vendors' addresses; fields encode as the servos do."""

from __future__ import annotations

import pytest
from vlakit_serial_arm.control_table import available_models, load_table

from vlakit import RobotError


def test_every_model_has_a_table():
    assert available_models() == ["sts3215", "xl330-m077", "xl330-m288", "xl430-w250"]


@pytest.mark.parametrize(
    ("model", "number", "present", "goal", "torque"),
    [
        ("sts3215", 777, (56, 2), (42, 2), 40),
        ("xl430-w250", 1060, (132, 4), (116, 4), 64),
        ("xl330-m077", 1190, (132, 4), (116, 4), 64),
        ("xl330-m288", 1200, (132, 4), (116, 4), 64),
    ],
)
def test_documented_addresses(model, number, present, goal, torque):
    t = load_table(model)
    assert t.model_number == number
    assert (t.field("present_position").address, t.field("present_position").size) == present
    assert (t.field("goal_position").address, t.field("goal_position").size) == goal
    assert t.field("torque_enable").address == torque


def test_feetech_sign_magnitude_fields():
    t = load_table("sts3215")
    assert t.field("homing_offset").encode(-5) == (0x0805).to_bytes(2, "little")  # sign in bit 11
    assert t.field("present_position").decode((0x8010).to_bytes(2, "little")) == -16  # sign in bit 15
    assert t.field("goal_velocity").encode(-1) == (0x8001).to_bytes(2, "little")


def test_dynamixel_twos_complement_fields():
    t = load_table("xl430-w250")
    assert t.field("present_position").decode(b"\xff\xff\xff\xff") == -1
    assert t.field("homing_offset").encode(-2) == b"\xfe\xff\xff\xff"
    assert "present_load" in t.fields and "current_limit" not in t.fields  # XL430 has no current control
    assert "present_current" in load_table("xl330-m288").fields


def test_unknown_model_and_field_are_clear_errors():
    with pytest.raises(RobotError, match="unknown servo model 'xm999'.*sts3215"):
        load_table("xm999")
    with pytest.raises(RobotError, match="no control-table field 'warp_drive'"):
        load_table("sts3215").field("warp_drive")
