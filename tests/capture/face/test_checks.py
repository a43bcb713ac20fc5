"""Portrait checks on the simulator's scripted scenes, guidance, undecided checks, pose geometry."""

import math

import cv2
import pytest

from capture.face.checks import CITATIONS, NOSE_DEPTH, NOSE_DROP, FaceAnalyser, FacePolicy, pose, release_models
from capture.face.detect import MODEL_FILES, FaceDetector, Landmarks, model_path
from capture.face.guidance import MESSAGES, PRIORITY, READY, guidance
from hardware_sim.camera import SCENES, Scene, render

#: scene -> (a check that must fail, the guidance shown)
EXPECTED = {
    "far": ("inter_eye_distance", "move_closer"),
    "close": ("head_size", "move_back"),
    "off_centre": ("head_centred", "move_left"),
    "too_high": ("eye_line_height", "sit_lower"),
    "tilted": ("roll", "head_straight"),
    "dark": ("brightness", "more_light"),
    "over_exposed": ("over_exposure", "less_light"),
    "side_lit": ("illumination_uniformity", "even_light"),
    "blurred": ("sharpness", "hold_still"),
    "hidden_mouth": ("occlusion", "uncover_face"),
    "hidden_eyes": ("single_face", "no_face"),
    "two_faces": ("single_face", "one_person"),
    "busy_background": ("background_uniformity", "plain_background"),
    "no_face": ("single_face", "no_face"),
}


@pytest.fixture(scope="module")
def analyser():
    return FaceAnalyser()


def _analyse(analyser, scene, width=1280, height=720):
    frame = render(scene, width, height)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])  # as the camera delivers it
    analyser.detector.reset()
    return analyser.analyse(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))


def test_models_load_from_the_installed_package_offline():
    for name in MODEL_FILES:
        assert model_path(name).stat().st_size > 100_000
    assert FaceDetector().detect(cv2.cvtColor(render(SCENES["good"], 640, 360), cv2.COLOR_BGR2GRAY))


def test_good_scene_passes_every_check(analyser):
    analysis = _analyse(analyser, SCENES["good"])
    failing = [check for check in analysis.checks if check.passed is not True]
    assert not failing and analysis.passed
    assert {check.name for check in analysis.checks} == set(CITATIONS) == set(PRIORITY)
    assert guidance(analysis) == READY
    assert 100 < analysis.check("inter_eye_distance").value < 140


def test_released_models_are_loaded_again_and_old_analysers_keep_working():
    before = FaceAnalyser()
    release_models()
    after = FaceAnalyser()
    assert after.detector._landmarks_5 is not before.detector._landmarks_5  # loaded again, not cached
    assert after.detector._detector is not before.detector._detector
    for analyser in (before, after):
        assert _analyse(analyser, SCENES["good"]).passed


@pytest.mark.parametrize("scene", sorted(EXPECTED))
def test_each_scene_fails_its_check_and_says_what_to_do(analyser, scene):
    check, advice = EXPECTED[scene]
    analysis = _analyse(analyser, SCENES[scene])
    assert analysis.check(check).passed is False
    assert not analysis.passed
    assert guidance(analysis) == MESSAGES[advice]


def test_no_face_leaves_every_other_check_undecided(analyser):
    analysis = _analyse(analyser, SCENES["no_face"])
    others = [check for check in analysis.checks if check.name != "single_face"]
    assert others and all(check.passed is None and check.value is None for check in others)
    assert not analysis.passed


def test_640x480_is_too_coarse_for_an_icao_portrait(analyser):
    analysis = _analyse(analyser, SCENES["good"], 640, 480)
    assert analysis.check("inter_eye_distance").passed is False  # 0.165 x 480 = 79 px between the eyes


def test_tracking_follows_the_face_between_full_scans(analyser):
    frames = [render(Scene(eye_x=x), 1280, 720) for x in (0.5, 0.52, 0.54, 0.56)]
    analyser.detector.reset()
    offsets = [analyser.analyse(frame).check("head_centred").value for frame in frames]
    assert offsets == sorted(offsets) and offsets[-1] - offsets[0] == pytest.approx(0.06, abs=0.01)


def _landmarks(yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0, distance=100.0):
    """Landmarks of a head model with NOSE_DEPTH / NOSE_DROP proportions, turned by the given angles."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    eye = distance / 2 * math.cos(yaw)
    nose_x = NOSE_DEPTH * distance * math.sin(yaw)
    nose_y = NOSE_DROP * distance * math.cos(pitch) - NOSE_DEPTH * distance * math.sin(pitch)
    roll = math.radians(roll_deg)

    def place(x, y):
        return (500 + x * math.cos(roll) - y * math.sin(roll), 300 + x * math.sin(roll) + y * math.cos(roll))

    return Landmarks(place(-eye, 0), place(eye, 0), place(nose_x, nose_y))


@pytest.mark.parametrize(("yaw", "pitch", "roll"), [(0, 0, 0), (10, 0, 0), (-15, 0, 0), (0, 10, 0), (0, -8, 0),
                                                    (0, 0, 12), (6, -6, -5)])
def test_pose_estimates_recover_the_model_angles(yaw, pitch, roll):
    got = pose(_landmarks(yaw, pitch, roll))
    assert got == pytest.approx((roll, yaw, pitch), abs=0.5)


def test_stricter_policy_turns_a_pass_into_a_fail():
    analysis = _analyse(FaceAnalyser(FacePolicy(min_eye_distance=150)), SCENES["good"])
    check = analysis.check("inter_eye_distance")
    assert check.passed is False and check.threshold == ">= 150 px"
