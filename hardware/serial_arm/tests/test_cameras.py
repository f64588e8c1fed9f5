"""Cameras through OpenCV (the optional extra): a video file stands in for the device."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from vlakit_serial_arm.cameras import CameraSettings, OpenCVCamera
from vlakit_serial_arm.config import SerialArmConfig
from vlakit_serial_arm.driver import SerialArmDriver

from vlakit import RobotError
from vlakit.testing import check_robot_driver

cv2 = pytest.importorskip("cv2")


def write_video(path: Path, colour_bgr: tuple[int, int, int], size=(40, 30), frames=6) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for _ in range(frames):
        writer.write(np.full((size[1], size[0], 3), colour_bgr, np.uint8))
    writer.release()
    return path


def test_camera_gives_rgb_frames_of_the_requested_size(tmp_path):
    video = write_video(tmp_path / "cam.avi", (0, 0, 200))  # red in BGR
    camera = OpenCVCamera("front", CameraSettings(source=str(video), height=24, width=32, fps=50))
    camera.open()
    try:
        for _ in range(12):  # past the end of the file: it loops
            frame = camera.read()
        assert frame.shape == (24, 32, 3) and frame.dtype == np.uint8
        assert frame[..., 0].mean() > 150 and frame[..., 2].mean() < 50  # RGB order
    finally:
        camera.close()


def test_missing_camera_is_a_clear_error(tmp_path):
    camera = OpenCVCamera("wrist", CameraSettings(source=str(tmp_path / "none.avi")))
    with pytest.raises(RobotError, match="camera 'wrist': cannot open source"):
        camera.open()


def test_driver_with_a_camera_passes_conformance(tmp_path):
    video = write_video(tmp_path / "cam.avi", (0, 180, 0))
    data = yaml.safe_load((Path(__file__).parents[1] / "vlakit_serial_arm/profiles/koch-follower.yaml").read_text())
    data["serial-arm"] = "koch-with-camera"
    data["cameras"] = {"front": {"source": str(video), "height": 30, "width": 40, "fps": 30}}
    profile = tmp_path / "koch-cam.yaml"
    profile.write_text(yaml.safe_dump(data))
    driver = SerialArmDriver(SerialArmConfig(profile=str(profile), emulate=True))
    assert driver.cameras["front"].height == 30
    check_robot_driver(driver)
