"""Token image geometry (ISO/IEC 19794-5) and the JPEG byte budget."""

import cv2
import numpy as np
import pytest

from capture.face.detect import FaceDetector
from capture.face.token import BudgetTooSmall, encode_within, make_token, token_size
from hardware_sim.camera import SCENES, render


def _landmarks(image):
    detector = FaceDetector(full_scan_every=1)
    return detector.detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))[0].landmarks


@pytest.mark.parametrize("scene", ["good", "tilted", "far"])
def test_token_puts_the_eyes_where_the_standard_says(scene):
    frame = render(SCENES[scene], 1280, 720)
    token = make_token(frame, _landmarks(frame), width=480, budget=40_000)
    assert (token.width, token.height) == (480, 640) == token_size(480)
    image = cv2.imdecode(np.frombuffer(token.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (640, 480, 3)
    eyes = _landmarks(image)
    assert eyes.eye_distance == pytest.approx(0.25 * 480, abs=5)  # 120 px
    assert eyes.eye_midpoint == pytest.approx((240, 0.6 * 480), abs=5)
    assert abs(eyes.left_eye[1] - eyes.right_eye[1]) < 3  # levelled, whatever the head's roll


def test_jpeg_fits_the_budget_at_the_best_quality():
    frame = render(SCENES["good"], 1280, 720)
    landmarks = _landmarks(frame)
    big = make_token(frame, landmarks, budget=60_000)
    small = make_token(frame, landmarks, budget=12_000)
    assert len(small.jpeg) <= 12_000 < len(big.jpeg) <= 60_000
    assert small.quality < big.quality
    # One quality step more would not have fitted.
    ok, above = cv2.imencode(".jpg", small.pixels, [cv2.IMWRITE_JPEG_QUALITY, small.quality + 1,
                                                    cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    assert len(above) > 12_000


def test_impossible_budget_is_a_clear_error():
    noise = np.random.default_rng(1).integers(0, 256, (640, 480, 3), dtype=np.uint8)
    with pytest.raises(BudgetTooSmall, match="budget is 2000"):
        encode_within(noise, 2000)
