"""The OpenCV camera driver against the MJPEG simulator: frames, the grabber's dropping, faults."""

import threading
import time

import cv2
import numpy as np
import pytest

from drivers.camera.models import create_camera
from drivers.camera.opencv import OpenCVCamera, fourcc_text, jpeg_problem
from drivers.device import DeviceKind
from drivers.errors import Cancelled, DeviceDisconnected, DeviceNotFound, DeviceTimeout
from drivers.settings import SettingsError
from hardware_sim.camera import SCENES, CameraSimulator, corrupt_jpeg, render


@pytest.fixture
def sim():
    with CameraSimulator(640, 360, 30.0) as simulator:
        yield simulator


@pytest.fixture
def camera(sim):
    with OpenCVCamera(sim.url, read_timeout=0.5, open_timeout=2.0, reconnect_interval=0.1) as cam:
        yield cam


def _jpeg() -> np.ndarray:
    ok, data = cv2.imencode(".jpg", render(SCENES["good"], 320, 240))
    assert ok
    return data.reshape(-1)


def test_jpeg_structure_check():
    data = _jpeg()
    assert jpeg_problem(data) == ""
    assert jpeg_problem(np.concatenate([data, np.zeros(7, np.uint8)])) == ""  # zero padding after EOI
    assert "cut short" in jpeg_problem(data[:-100])
    assert "overwritten" in jpeg_problem(np.frombuffer(corrupt_jpeg(data.tobytes()) + b"\xff\xd9", np.uint8))
    assert "start-of-image" in jpeg_problem(np.frombuffer(b"not a jpeg", np.uint8))


def test_fourcc_text():
    assert fourcc_text(cv2.VideoWriter.fourcc(*"MJPG")) == "MJPG"
    assert fourcc_text(0) == "" and fourcc_text(-1) == ""


def test_opens_the_stream_by_url_and_delivers_newer_frames(camera, sim):
    info = camera.info()
    assert info.kind is DeviceKind.CAMERA and info.address == sim.url and info.model == "MJPG stream"
    assert camera.negotiated["size"] == "640x360" and camera.negotiated["format"] == "MJPG"
    first = camera.latest(timeout=2.0)
    second = camera.latest(newer_than=first.sequence, timeout=2.0)
    assert second.sequence > first.sequence and second.monotonic > first.monotonic
    assert second.pixels.shape == (360, 640, 3) and (second.width, second.height) == (640, 360)
    assert camera.controls() == {} and camera.set_control("exposure", 100) is False


def test_grabber_drops_stale_frames_instead_of_queueing(camera):
    first = camera.latest(timeout=2.0)
    time.sleep(0.4)  # a slow consumer: about 12 frames arrive meanwhile
    later = camera.latest(newer_than=first.sequence, timeout=2.0)
    assert later.sequence - first.sequence > 3
    assert camera.latest(newer_than=0).sequence == later.sequence  # the newest one, again: nothing queued
    stats = camera.stats()
    assert stats.dropped >= later.sequence - first.sequence - 1
    assert stats.delivered == 2  # the same frame taken twice is one delivery
    assert stats.frames >= stats.delivered + stats.dropped


def test_corrupt_frames_are_counted_and_never_delivered(camera, sim):
    camera.latest(timeout=2.0)
    sim.corrupt(4)
    deadline = time.monotonic() + 3.0
    while camera.stats().corrupt < 4 and time.monotonic() < deadline:
        frame = camera.latest(newer_than=camera.latest().sequence, timeout=1.0)
        assert abs(frame.pixels.mean() - sim.frame().mean()) < 3  # a whole picture, not a concealed one
    assert camera.stats().corrupt == 4
    assert camera.latest(newer_than=camera.latest().sequence, timeout=1.0)


def test_unplugged_camera_raises_then_reconnects(camera, sim):
    frame = camera.latest(timeout=2.0)
    sim.unplug()
    with pytest.raises(DeviceDisconnected):
        for _ in range(50):
            frame = camera.latest(newer_than=frame.sequence, timeout=0.3)
    assert not camera.stats().connected
    sim.plug()
    back = camera.latest(newer_than=frame.sequence, timeout=5.0)
    assert back.sequence > frame.sequence
    assert camera.stats().reconnects >= 1 and camera.stats().connected


def test_stalled_stream_is_reopened_when_it_resumes(camera, sim):
    frame = camera.latest(timeout=2.0)
    sim.stall()
    with pytest.raises(DeviceTimeout):  # first no frame comes; after the read timeout the stream counts as lost
        camera.latest(newer_than=camera.latest().sequence, timeout=0.2)
    deadline = time.monotonic() + 3.0
    while camera.stats().connected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not camera.stats().connected
    with pytest.raises(DeviceDisconnected):
        camera.latest(newer_than=camera.latest().sequence, timeout=0.1)
    sim.resume()
    assert camera.latest(newer_than=frame.sequence, timeout=5.0).sequence > frame.sequence
    assert camera.stats().reconnects >= 1


def test_waiting_can_be_cancelled(camera):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        camera.latest(newer_than=10**9, timeout=5.0, cancel=cancel)


def test_closed_camera_says_so(sim):
    camera = OpenCVCamera(sim.url)
    with pytest.raises(DeviceDisconnected):
        camera.latest(timeout=0.1)
    camera.close()
    camera.close()


def test_self_test_measures_the_stream(sim):
    result = create_camera("opencv", {"source": sim.url}).self_test(duration=0.3)
    assert result.passed, result.problem
    assert "MJPG" in result.checks["format"] and "640x360" in result.checks["picture"]


def test_self_test_fails_on_a_blank_picture(sim):
    sim.set_scene("no_face", background="plain", noise=0.0, gain=0.0)
    result = create_camera("opencv", {"source": sim.url}).self_test(duration=0.1)
    assert not result.passed and "uniform" in result.problem


def test_nothing_listening_is_not_found():
    with CameraSimulator(64, 48) as gone:
        url = gone.url
    with pytest.raises(DeviceNotFound):
        OpenCVCamera(url, open_timeout=1.0).open()


def test_missing_device_path_is_not_found(tmp_path):
    with pytest.raises(DeviceNotFound):
        OpenCVCamera(str(tmp_path / "video9")).open()
    assert OpenCVCamera("3").device_path == "/dev/video3"


def test_url_password_is_not_shown():
    assert OpenCVCamera("http://admin:secret@10.0.0.9/video.mjpg").address == "http://***@10.0.0.9/video.mjpg"


@pytest.mark.parametrize(("model", "settings", "message"), [
    ("opencv", {}, "source: must be set"),
    ("opencv", {"source": 0, "speed": 3}, "speed: unknown key"),
    ("opencv", {"source": True}, "source: "),
    ("webcam", {"source": 0}, "unknown camera model"),
])
def test_bad_settings_name_the_problem(model, settings, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_camera(model, settings)


def test_controls_are_passed_through():
    camera = create_camera("opencv", {"source": "/dev/video7", "exposure": 120, "autofocus": 0})
    assert isinstance(camera, OpenCVCamera)
    assert camera.requested_controls == {"exposure": 120.0, "autofocus": 0.0}
    with pytest.raises(ValueError, match="unknown camera control"):
        camera.set_control("zoom", 2)
