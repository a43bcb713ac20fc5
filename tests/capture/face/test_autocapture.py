"""Auto-capture over N passing frames, manual capture, the live loop on the simulated camera, 1:1 comparison."""

import threading

import cv2
import numpy as np
import pytest

from capture.face.autocapture import AutoCapture, NoFace, NoPortrait, capture_portrait, make_sample
from capture.face.checks import Analysis, FaceAnalyser, FacePolicy
from capture.face.compare import SAME_PERSON_THRESHOLD, FaceComparator
from capture.face.guidance import MESSAGES
from capture.face.sample import CheckOutcome
from drivers.camera.opencv import OpenCVCamera
from drivers.device import DeviceInfo, DeviceKind
from drivers.errors import Cancelled
from hardware_sim.camera import SCENES, CameraSimulator, render

DEVICE = DeviceInfo(DeviceKind.CAMERA, "test", "test")


def _fake(passed: bool, sharpness: float) -> Analysis:
    checks = (CheckOutcome("single_face", 1, "== 1", passed), CheckOutcome("sharpness", sharpness, ">= 0.6", True))
    return Analysis(np.zeros((4, 4, 3), np.uint8), (), checks)


def test_takes_the_best_of_n_consecutive_passing_frames():
    auto = AutoCapture(3)
    assert auto.feed(_fake(True, 1.0)) is None and auto.streak == 1
    assert auto.feed(_fake(False, 9.0)) is None and auto.streak == 0  # a failing frame starts again
    assert auto.feed(_fake(True, 1.0)) is None
    best = _fake(True, 3.0)
    assert auto.feed(best) is None
    assert auto.feed(_fake(True, 2.0)) is best
    assert auto.streak == 0


def test_undecided_check_does_not_count_as_passed():
    checks = (CheckOutcome("single_face", 1, "== 1", True), CheckOutcome("eyes_open", 1, "2", None))
    assert not AutoCapture(1).feed(Analysis(np.zeros((4, 4, 3), np.uint8), (), checks))


def test_manual_capture_is_flagged_and_keeps_the_failing_checks():
    analyser = FaceAnalyser()
    analysis = analyser.analyse(render(SCENES["tilted"], 1280, 720))
    sample = make_sample(analysis, DEVICE, analyser.policy, manual=True)
    assert sample.manual and not sample.extra["all_checks_passed"]
    assert any(check.name == "roll" and check.passed is False for check in sample.checks)
    with pytest.raises(NoFace):
        make_sample(analyser.analyse(render(SCENES["no_face"], 640, 360)), DEVICE, analyser.policy, manual=True)


@pytest.fixture
def camera():
    with CameraSimulator(1280, 720, 30.0) as sim, OpenCVCamera(sim.url) as cam:
        yield sim, cam


def test_live_capture_on_the_simulated_camera(camera):
    sim, cam = camera
    seen = []
    sample = capture_portrait(cam, FaceAnalyser(FacePolicy(consecutive_frames=3)), timeout=20,
                              on_analysis=lambda analysis, advice: seen.append(advice))
    assert not sample.manual and sample.extra["all_checks_passed"]
    assert (sample.width, sample.height) == (480, 640) and len(sample.token_jpeg) <= 20_000
    assert cv2.imdecode(np.frombuffer(sample.token_jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (640, 480, 3)
    assert len(seen) >= 3 and sample.device.address == sim.url


def test_live_capture_gives_up_with_the_last_guidance(camera):
    sim, cam = camera
    sim.set_scene("tilted")
    with pytest.raises(NoPortrait) as caught:
        capture_portrait(cam, FaceAnalyser(), timeout=1.0)
    assert caught.value.guidance == MESSAGES["head_straight"]


def test_officer_button_and_cancel(camera):
    sim, cam = camera
    sim.set_scene("tilted")
    manual = threading.Event()
    sample = capture_portrait(cam, FaceAnalyser(), timeout=10, manual=manual,
                              on_analysis=lambda analysis, advice: manual.set())
    assert sample.manual
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        capture_portrait(cam, FaceAnalyser(), cancel=cancel)


def test_same_face_under_changed_conditions_compares_as_the_same_person():
    comparator = FaceComparator()
    frame = render(SCENES["good"], 1280, 720)
    sample = make_sample(FaceAnalyser().analyse(frame), DEVICE, FacePolicy(), manual=False)
    token = cv2.imdecode(np.frombuffer(sample.token_jpeg, np.uint8), cv2.IMREAD_COLOR)
    for scene in ("tilted", "dark"):
        result = comparator.compare(token, render(SCENES[scene], 1280, 720))
        assert result is not None and result.same_person and result.distance < SAME_PERSON_THRESHOLD
    assert comparator.compare(token, render(SCENES["no_face"], 640, 360)) is None
