"""Fingerprint quality: the score falls with every kind of degradation, and says why."""

from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from capture.finger.quality import Problem, assess
from capture.finger.segmentation import segment
from hardware_sim.fingerprints import render_impression

FINGERS = [(7, 2), (11, 5), (21, 9)]
SENSOR = {"width": 256, "height": 288, "ppi": 500}

# Graded steps from a good print to a bad one, per degradation of the synthetic finger.
STEPS = {
    "blur": [0.0, 2.0, 2.5, 3.0, 3.5],
    "noise": [0.0, 2.0, 3.0, 4.0, 5.0],
    "contrast": [1.0, 0.5, 0.35, 0.25, 0.15],
    "pressure": [1.0, 0.4, 0.3, 0.22, 0.15],
    "dryness": [0.0, 0.5, 0.7, 0.85, 1.0],
    "dx_mm": [0.0, 6.0, 7.5, 9.0, 10.5],
}


def _score(seed: int, position: int, **degradation: float) -> tuple[int, tuple[Problem, ...]]:
    report = assess(render_impression(seed, position, **SENSOR, **degradation), 500)
    return report.score, report.problems


@pytest.mark.parametrize("degradation", sorted(STEPS))
@pytest.mark.parametrize(("seed", "position"), FINGERS)
def test_score_falls_over_graded_steps(degradation, seed, position):
    scores = [_score(seed, position, **{degradation: value})[0] for value in STEPS[degradation]]
    # Non-increasing at every step (one point of slack for rounding), and clearly lower at the end.
    assert all(later <= earlier + 1 for earlier, later in pairwise(scores)), scores
    assert scores[-1] <= scores[0] - 25, scores


def test_good_print_scores_high_without_problems():
    score, problems = _score(3, 1)
    assert score >= 75 and problems == ()


@pytest.mark.parametrize(
    ("degradation", "expected"),
    [
        ({"dryness": 1.0}, Problem.TOO_DRY),
        ({"contrast": 0.15}, Problem.LOW_CONTRAST),
        ({"blur": 3.5}, Problem.TOO_BLURRED),
        ({"pressure": 0.15}, Problem.TOO_LITTLE_CONTACT),
        ({"dx_mm": 10.5}, Problem.OFF_CENTRE),
        ({"noise": 5.0}, Problem.UNCLEAR_RIDGES),
    ],
)
def test_each_degradation_is_explained(degradation, expected):
    score, problems = _score(7, 2, **degradation)
    assert expected in problems, (score, problems)


@pytest.mark.parametrize(
    "image",
    [np.full((288, 256), 228, np.uint8), np.full((288, 256), 255, np.uint8), np.zeros((288, 256), np.uint8)],
    ids=["empty sensor", "white", "black"],
)
def test_blank_images_score_zero_as_no_finger(image):
    report = assess(image, 500)
    assert report.score == 0 and report.problems == (Problem.NO_FINGER,)
    assert report.feedback == "Place your finger on the scanner."


def test_pure_noise_is_no_finger():
    noise = np.random.default_rng(4).integers(0, 256, (288, 256)).astype(np.uint8)
    assert assess(noise, 500).score <= 5


def test_heavily_blurred_finger_is_not_called_absent():
    report = assess(render_impression(7, 2, **SENSOR, blur=5.0), 500)
    assert report.score <= 10 and report.problems[0] is Problem.TOO_BLURRED


def test_feedback_is_the_most_important_problem():
    report = assess(render_impression(11, 5, **SENSOR, pressure=0.15, dryness=0.8), 500)
    assert report.problems[0] is Problem.TOO_LITTLE_CONTACT
    assert report.feedback == Problem.TOO_LITTLE_CONTACT.feedback


def test_other_resolutions_are_resampled_to_500ppi():
    at_500 = assess(render_impression(3, 1, width=256, height=288, ppi=500), 500)
    at_385 = assess(render_impression(3, 1, width=256, height=180, ppi=385), 385)
    assert abs(at_500.features["ridge_period"] - at_385.features["ridge_period"]) < 2.5
    assert at_385.score >= 60


def test_recorded_real_print_is_judged_usable():
    """The NB-1010 image recorded from a real finger (libfprint's test data) must not be rejected."""
    pixels = cv2.imread(str(Path(__file__).parents[1] / "data/usb/nb1010/capture.png"), cv2.IMREAD_GRAYSCALE)
    assert assess(pixels, 385).score >= 50


def test_rejects_colour_images():
    with pytest.raises(ValueError, match="2-D uint8"):
        assess(np.zeros((10, 10, 3), np.uint8), 500)


def test_segmentation_finds_the_finger_and_its_centre():
    image = render_impression(7, 2, **SENSOR, pressure=0.3, dx_mm=-4.0)
    foreground = segment(image)
    assert 0.2 < foreground.area_fraction < 0.8
    assert foreground.centre_offset[0] < -0.15  # placed to the left
    x, y, w, h = foreground.bbox
    assert foreground.mask[y + h // 2, x + w // 2]
    assert segment(np.full((288, 256), 228, np.uint8)).empty
