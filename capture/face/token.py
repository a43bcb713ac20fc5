"""The ISO/IEC 19794-5 token frontal image: eyes levelled, cropped and scaled to the token geometry,
JPEG-encoded within a byte budget.

Token geometry (ISO/IEC 19794-5 "token frontal image"; figures as summarised in
shared/reference/face-and-ui.md): width W, height 4/3 x W (3:4), the eye midpoint on the
vertical centre line at 0.6 x W from the top, the eye centres 0.25 x W apart.  At the usual
480 x 640 that is 120 px between the eyes (ICAO Doc 9303's minimum is 90 px).

Portraits on ID chips are JPEG of typically 15-20 KB (DG2 shares the chip with everything else),
so the encoder searches the best JPEG quality that fits a byte budget: the file size falls
monotonically (in practice) with the quality setting, so a bisection over 1..95 needs about seven
encodings of a 480 x 640 image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from capture.face.detect import Landmarks, Point

EYE_DISTANCE_RATIO = 0.25
"""Eye distance / image width."""
EYE_LINE_RATIO = 0.6
"""Eye line's distance from the top / image width."""
ASPECT = 4 / 3
"""Height / width."""

DEFAULT_WIDTH = 480
DEFAULT_BUDGET = 20_000
MAX_QUALITY = 95
"""Above 95 libjpeg's files grow fast for no visible gain."""
MIN_QUALITY = 20
"""Below this JPEG blocking would itself fail a compression-artefact check (OFIQ measures it)."""


class BudgetTooSmall(ValueError):
    """Even at the lowest acceptable JPEG quality the token image is larger than the byte budget."""


@dataclass(frozen=True)
class TokenImage:
    """The token image: JPEG bytes, its size and the JPEG quality used."""

    jpeg: bytes
    width: int
    height: int
    quality: int
    pixels: np.ndarray
    """The uncompressed image (BGR), for checks and comparison; never stored."""


def token_size(width: int = DEFAULT_WIDTH) -> tuple[int, int]:
    """(width, height) of a token image ``width`` pixels wide."""
    return width, round(width * ASPECT)


def roll_degrees(right_eye: Point, left_eye: Point) -> float:
    """Angle of the eye line in the image, degrees; positive when the eye on the image's right is lower."""
    return math.degrees(math.atan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))


def token_matrix(landmarks: Landmarks, width: int = DEFAULT_WIDTH) -> np.ndarray:
    """The 2 x 3 affine matrix from frame pixels to token pixels: rotate about the eye midpoint so
    that the eyes are level, scale the eye distance to 0.25 x width, put the midpoint at
    (width / 2, 0.6 x width)."""
    angle = math.radians(roll_degrees(landmarks.right_eye, landmarks.left_eye))
    scale = EYE_DISTANCE_RATIO * width / landmarks.eye_distance
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    mx, my = landmarks.eye_midpoint
    cx, cy = width / 2, EYE_LINE_RATIO * width
    return np.array([[cos, sin, cx - cos * mx - sin * my], [-sin, cos, cy + sin * mx - cos * my]])


def warp_token(pixels: np.ndarray, landmarks: Landmarks, width: int = DEFAULT_WIDTH) -> np.ndarray:
    """The frame resampled to the token geometry (area outside the frame is replicated edge pixels;
    the crop check in :mod:`capture.face.checks` keeps that from ever reaching a portrait)."""
    size = token_size(width)
    matrix = token_matrix(landmarks, width)
    shrinking = matrix[0, 0] ** 2 + matrix[0, 1] ** 2 < 1.0
    if shrinking:
        # Downscaling with a plain bilinear warp aliases; smooth first in proportion to the shrink.
        sigma = 0.5 * (1.0 / math.hypot(matrix[0, 0], matrix[0, 1]) - 1.0)
        if sigma > 0.3:
            pixels = _blurred_region(pixels, matrix, size, sigma)
    return cv2.warpAffine(pixels, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _blurred_region(pixels: np.ndarray, matrix: np.ndarray, size: tuple[int, int], sigma: float) -> np.ndarray:
    """``pixels`` with only the part the token covers smoothed (blurring the whole frame costs too much)."""
    x0, y0, x1, y1 = _source_bounds(matrix, size, pixels.shape[1], pixels.shape[0])
    if x1 <= x0 or y1 <= y0:
        return pixels
    out = pixels.copy()
    out[y0:y1, x0:x1] = cv2.GaussianBlur(pixels[y0:y1, x0:x1], (0, 0), sigma)
    return out


def _source_bounds(matrix: np.ndarray, size: tuple[int, int], width: int, height: int) -> tuple[int, int, int, int]:
    corners = source_polygon(matrix, size)
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def source_polygon(matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The token image's four corners in frame pixels (4 x 2 float32)."""
    inverse = cv2.invertAffineTransform(matrix)
    width, height = size
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], np.float64)
    return (corners @ inverse.T).astype(np.float32)


def encode_within(pixels: np.ndarray, budget: int = DEFAULT_BUDGET) -> tuple[bytes, int]:
    """The best-quality baseline JPEG of ``pixels`` no larger than ``budget`` bytes, and its quality."""
    def encode(quality: int) -> bytes:
        ok, data = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        return data.tobytes()

    best = encode(MIN_QUALITY)
    if len(best) > budget:
        raise BudgetTooSmall(f"the token image needs {len(best)} bytes even at JPEG quality {MIN_QUALITY}; "
                             f"the budget is {budget}")
    low, high, best_quality = MIN_QUALITY, MAX_QUALITY, MIN_QUALITY
    while low < high:
        quality = (low + high + 1) // 2
        data = encode(quality)
        if len(data) <= budget:
            low, best, best_quality = quality, data, quality
        else:
            high = quality - 1
    return best, best_quality


def make_token(pixels: np.ndarray, landmarks: Landmarks, *, width: int = DEFAULT_WIDTH,
               budget: int = DEFAULT_BUDGET) -> TokenImage:
    """The token image of the face with ``landmarks`` in the BGR frame ``pixels``."""
    token = warp_token(pixels, landmarks, width)
    jpeg, quality = encode_within(token, budget)
    height = token.shape[0]
    return TokenImage(jpeg, width, height, quality, token)
