"""The portrait checks: each measures one property of a frame, compares it with a configurable
threshold and says pass, fail or undecided (:class:`~capture.face.sample.CheckOutcome`).

Sources (standard texts are paywalled; facts as summarised, with their secondary sources, in
shared/reference/face-and-ui.md):

* ICAO Doc 9303 part 3 / ISO/IEC 19794-5 (full frontal and token frontal images): one face;
  at least 90 px between the eye centres (120 recommended); eye line 50-70 % of the height from
  the bottom; head centred; pose within about +-5 deg yaw and pitch and +-8 deg roll.
* OFIQ (BSI's reference implementation of ISO/IEC 29794-5, OFIQlib/modules/measures) for how to
  measure: single face present (second largest face area / largest), inter-eye distance corrected
  by 1 / cos(yaw), head size (eye midpoint to chin / image height), crop (the portrait must not
  run off the image), under-exposure (share of face pixels with luminance 0-25), over-exposure
  (share with 247-255), illumination uniformity (overlap of the left and right face halves'
  luminance histograms), background uniformity (mean squared Sobel gradient of the background's
  luminance), eyes open (eye opening relative to the face).
* Sharpness: variance of the Laplacian (Pech-Pacheco et al., "Diatom autofocusing in brightfield
  microscopy", ICPR 2000), here on the face resampled to a fixed 60 px between the eyes so the
  value does not depend on the citizen's distance.  OFIQ's sharpness is a random forest over
  similar filter responses; its model is not on PyPI.
* Occlusion: OFIQ segments the face with a face-parsing network (not on PyPI); here, the share of
  the face whose colour departs from the face's median skin colour.  A hand in front of the face
  has skin colour and is not caught this way.
* Eyes open without eyelid landmarks: OpenCV's Haar eye cascade (trained on open eyes) searched
  inside each eye's neighbourhood; with the 68-point model, the eye aspect ratio (Soukupova and
  Cech, "Real-time eye blink detection using facial landmarks", CVWW 2016).

Camera-frame geometry: the camera sees more than the portrait, so position and distance are
judged against the camera frame (is the face where the token image can be cut from it at full
resolution?), and lighting, sharpness and background are judged on the face resampled to the
token geometry.  A check that cannot be decided (no face, no landmarks for the eyes) is
``passed=None``: it never counts as passed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

import cv2
import numpy as np

from capture.face import detect
from capture.face.detect import DetectedFace, FaceDetector, Landmarks
from capture.face.sample import CheckOutcome
from capture.face.token import roll_degrees, source_polygon, token_matrix, token_size, warp_token

ANALYSIS_EYE_DISTANCE = 60
"""Eye distance (px) of the resampled face that lighting, sharpness and background are measured on."""
_WORK_WIDTH = round(ANALYSIS_EYE_DISTANCE / 0.25)

NOSE_DEPTH = 0.33
"""Depth of the point under the nose in front of the eye centres, in eye distances (anthropometric
approximation: about 20 mm for about 62 mm between the pupils).  Turns the nose's sideways shift
into a yaw angle."""
NOSE_DROP = 0.74
"""Distance from the eye line down to the point under the nose, in eye distances, in a level pose
(measured on the frontal reference portrait, skimage's astronaut).  People differ by about +-0.08,
i.e. about +-6 deg of pitch: the pitch is an estimate, and its default limit is wider than ISO's."""
OCCLUSION_CHROMA = 14.0
"""Distance in the (Cr, Cb) plane from the face's median colour beyond which a pixel is not skin
(lips and eye whites stay within it on the reference portrait; a card, a scarf or a mask do not)."""
CHIN_DROP = 1.75
"""Eye midpoint to chin in eye distances, used when no chin landmark exists (5-point model)."""

CITATIONS: dict[str, str] = {
    "single_face": "ICAO 9303-3 / ISO/IEC 19794-5: one face only; OFIQ SingleFacePresent",
    "inter_eye_distance": "ICAO 9303-3: >= 90 px between eye centres, 120 recommended; OFIQ InterEyeDistance",
    "head_size": "OFIQ HeadSize: eye midpoint to chin / image height",
    "crop": "OFIQ leftward/rightward crop, margin above/below: the token image must lie inside the frame",
    "head_centred": "ISO/IEC 19794-5 full frontal: head centred horizontally",
    "eye_line_height": "ISO/IEC 19794-5 full frontal: eye line 50-70 % of the height from the bottom",
    "roll": "ISO/IEC 19794-5: roll within +-8 deg; OFIQ HeadPoseRoll",
    "yaw": "ISO/IEC 19794-5: yaw within about +-5 deg; OFIQ HeadPoseYaw",
    "pitch": "ISO/IEC 19794-5: pitch within about +-5 deg; OFIQ HeadPosePitch",
    "eyes_open": "ICAO 9303-3: eyes open and visible; OFIQ EyesOpen",
    "brightness": "OFIQ LuminanceMean of the face",
    "under_exposure": "OFIQ UnderExposurePrevention: share of face pixels with luminance 0-25",
    "over_exposure": "OFIQ OverExposurePrevention: share of face pixels with luminance 247-255",
    "illumination_uniformity": "OFIQ IlluminationUniformity: overlap of left/right face-half luminance histograms",
    "sharpness": "variance of the Laplacian on the face (Pech-Pacheco 2000); OFIQ Sharpness",
    "occlusion": "ICAO 9303-3: face not covered; OFIQ FaceOcclusionPrevention (there by face parsing, here by colour)",
    "background_uniformity": "OFIQ BackgroundUniformity: mean squared Sobel gradient of the background",
}
"""The source of each check, by check name (check names are those of :class:`CheckOutcome.name`)."""


@dataclass(frozen=True)
class FacePolicy:
    """Thresholds of the checks and of the auto-capture (``[capture.face]`` of the station's
    configuration sets any of them, checked by ``station.config``); defaults follow the sources
    above, the measured ones are calibrated on the camera simulator's scenes (bench/face_analysis.py
    prints them)."""

    min_eye_distance: float = 90.0
    recommended_eye_distance: float = 120.0
    head_size: tuple[float, float] = (0.20, 0.40)
    min_crop_inside: float = 0.999
    max_centre_offset: float = 0.10
    eye_line_height: tuple[float, float] = (0.50, 0.70)
    max_roll: float = 8.0
    max_yaw: float = 8.0
    max_pitch: float = 12.0
    min_eye_aspect_ratio: float = 0.20
    brightness: tuple[float, float] = (80.0, 210.0)
    max_under_exposure: float = 0.05
    max_over_exposure: float = 0.05
    min_illumination_uniformity: float = 0.5
    min_sharpness: float = 0.6
    max_occlusion: float = 0.10
    max_background_gradient: float = 150.0
    consecutive_frames: int = 5
    """Frames in a row that must pass before the auto-capture takes the best of them."""
    detection_width: int = 640
    full_scan_every: int = 3
    """Between full scans the face is tracked (capture.face.detect); 1 scans every frame."""
    use_68_points: bool = False
    """Load the 68-point model (non-commercial licence) for chin and eyelid landmarks."""
    token_width: int = 480
    token_budget: int = 20_000


@dataclass(frozen=True)
class Analysis:
    """Everything judged on one frame."""

    pixels: np.ndarray
    """The frame (BGR); kept so that the best frame of a run can become the token image."""
    faces: tuple[DetectedFace, ...]
    checks: tuple[CheckOutcome, ...]
    advice: dict[str, str] = field(default_factory=dict)
    """Check name -> what would fix it (a key of :data:`capture.face.guidance.MESSAGES`), for failing checks."""
    seconds: float = 0.0
    sequence: int = 0
    captured_at: datetime | None = None
    """When the camera delivered the frame (UTC)."""

    @property
    def landmarks(self) -> Landmarks | None:
        return self.faces[0].landmarks if self.faces else None

    @property
    def passed(self) -> bool:
        """Every check passed (an undecided check is not a pass)."""
        return bool(self.checks) and all(check.passed is True for check in self.checks)

    def check(self, name: str) -> CheckOutcome:
        for outcome in self.checks:
            if outcome.name == name:
                return outcome
        raise KeyError(name)

    @property
    def quality(self) -> float:
        """A figure for choosing the best of several passing frames: sharp and frontal wins."""
        values = {check.name: check.value for check in self.checks}
        sharpness = values.get("sharpness") or 0.0
        pose = sum(abs(values.get(name) or 0.0) for name in ("yaw", "pitch", "roll"))
        return float(sharpness) / (1.0 + pose / 10.0)


class FaceAnalyser:
    """Runs detection and every check on a frame."""

    def __init__(self, policy: FacePolicy | None = None, detector: FaceDetector | None = None) -> None:
        self.policy = policy or FacePolicy()
        self.detector = detector or FaceDetector(detection_width=self.policy.detection_width,
                                                 full_scan_every=self.policy.full_scan_every,
                                                 use_68_points=self.policy.use_68_points)

    def analyse(self, pixels: np.ndarray, sequence: int = 0, captured_at: datetime | None = None) -> Analysis:
        started = time.perf_counter()
        grey = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        faces = tuple(self.detector.detect(grey))
        judged = _judge(pixels, grey, faces, self.policy)
        checks = tuple(outcome for outcome, _ in judged)
        advice = {outcome.name: key for outcome, key in judged if key and outcome.passed is not True}
        return Analysis(pixels, faces, checks, advice, time.perf_counter() - started, sequence, captured_at)


# -- the checks --------------------------------------------------------------------------------------

Judged = tuple[CheckOutcome, str]
"""A check's outcome and the advice key for when it does not pass."""


def _range(name: str, value: float, bounds: tuple[float, float], low: str, high: str, unit: str = "",
           detail: str = "") -> Judged:
    lo, hi = bounds
    passed = lo <= value <= hi
    advice = "" if passed else (low if value < lo else high)
    return CheckOutcome(name, value, f"{lo:g}..{hi:g}{unit}", passed, detail), advice


def _at_most(name: str, value: float, limit: float, advice: str, unit: str = "", detail: str = "") -> Judged:
    return CheckOutcome(name, value, f"<= {limit:g}{unit}", value <= limit, detail), advice


def _at_least(name: str, value: float, limit: float, advice: str, unit: str = "", detail: str = "") -> Judged:
    return CheckOutcome(name, value, f">= {limit:g}{unit}", value >= limit, detail), advice


def _judge(pixels: np.ndarray, grey: np.ndarray, faces: tuple[DetectedFace, ...], policy: FacePolicy) -> list[Judged]:
    count = len(faces)
    if count == 0:
        single: Judged = (CheckOutcome("single_face", 0, "== 1", False, "no face found"), "no_face")
    elif count == 1:
        single = (CheckOutcome("single_face", 1, "== 1", True), "")
    else:
        ratio = faces[1].area / faces[0].area
        single = (CheckOutcome("single_face", count, "== 1", False,
                               f"{count} faces; second largest is {ratio:.0%} of the largest (OFIQ: {1 - ratio:.2f})"),
                  "one_person")
    landmarks = faces[0].landmarks if faces else None
    if landmarks is None:
        undecided = [CheckOutcome(name, None, "", None, "no face to measure") for name in CITATIONS if
                     name != "single_face"]
        return [single, *((outcome, "") for outcome in undecided)]
    return [single, *_geometry(grey.shape, landmarks, policy), _eyes_open(grey, landmarks, policy),
            *_appearance(pixels, landmarks, policy)]


def pose(landmarks: Landmarks) -> tuple[float, float, float]:
    """(roll, yaw, pitch) in degrees from the eye centres and the point under the nose.

    Roll is the eye line's angle.  In the roll-corrected face, the nose's sideways offset u and its
    drop v below the eye line (both in observed eye distances) give yaw = atan(u / NOSE_DEPTH)
    (the nose sits NOSE_DEPTH in front of the eyes, and the eye distance shrinks by cos(yaw) as u
    grows by sin(yaw)), and pitch from v cos(yaw) = NOSE_DROP cos(p) - NOSE_DEPTH sin(p); positive pitch is
    chin up, positive yaw is the nose towards the image's right.
    """
    roll = roll_degrees(landmarks.right_eye, landmarks.left_eye)
    angle = math.radians(roll)
    mx, my = landmarks.eye_midpoint
    dx, dy = landmarks.nose_base[0] - mx, landmarks.nose_base[1] - my
    distance = landmarks.eye_distance
    u = (dx * math.cos(angle) + dy * math.sin(angle)) / distance
    v = (-dx * math.sin(angle) + dy * math.cos(angle)) / distance
    yaw = math.degrees(math.atan(u / NOSE_DEPTH))
    v *= math.cos(math.radians(yaw))  # in true eye distances: the observed one shrinks by cos(yaw)
    reach = math.hypot(NOSE_DROP, NOSE_DEPTH)
    pitch = math.degrees(math.acos(max(-1.0, min(1.0, v / reach))) - math.atan2(NOSE_DEPTH, NOSE_DROP))
    return roll, yaw, pitch


def _geometry(shape: tuple[int, ...], landmarks: Landmarks, policy: FacePolicy) -> list[Judged]:
    height, width = shape[:2]
    roll, yaw, pitch = pose(landmarks)
    distance = landmarks.eye_distance / max(math.cos(math.radians(yaw)), 0.2)
    mx, my = landmarks.eye_midpoint
    if landmarks.chin is not None:
        chin_distance, chin_source = math.dist(landmarks.eye_midpoint, landmarks.chin), "chin landmark"
    else:
        chin_distance, chin_source = CHIN_DROP * distance, f"chin estimated at {CHIN_DROP} eye distances"
    polygon = source_polygon(token_matrix(landmarks, policy.token_width), token_size(policy.token_width))
    frame = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    inside_area, _ = cv2.intersectConvexConvex(polygon, frame)
    inside = float(inside_area) / float(cv2.contourArea(polygon))
    offset = (mx - width / 2) / width
    eye_height = (height - my) / height
    return [
        _at_least("inter_eye_distance", distance, policy.min_eye_distance, "move_closer", " px",
                  f"corrected for yaw; {policy.recommended_eye_distance:g} px recommended"),
        _range("head_size", chin_distance / height, policy.head_size, "move_closer", "move_back", detail=chin_source),
        _at_least("crop", inside, policy.min_crop_inside, _crop_advice(polygon, width, height),
                  detail="share of the token image inside the frame"),
        # The citizen faces the camera: a face on the image's left is on the citizen's right, so
        # they should move to their left.
        (CheckOutcome("head_centred", offset, f"|x| <= {policy.max_centre_offset:g}",
                     abs(offset) <= policy.max_centre_offset, "eye midpoint's offset from the centre / width"),
        "move_left" if offset < 0 else "move_right"),
        _range("eye_line_height", eye_height, policy.eye_line_height, "sit_higher", "sit_lower",
               detail="eye line above the bottom / height"),
        (CheckOutcome("roll", roll, f"|x| <= {policy.max_roll:g} deg", abs(roll) <= policy.max_roll), "head_straight"),
        (CheckOutcome("yaw", yaw, f"|x| <= {policy.max_yaw:g} deg", abs(yaw) <= policy.max_yaw,
                      "estimate from the nose's sideways shift"), "look_straight"),
        (CheckOutcome("pitch", pitch, f"|x| <= {policy.max_pitch:g} deg", abs(pitch) <= policy.max_pitch,
                      "estimate from the nose's drop below the eyes"), "chin_level"),
    ]


def _crop_advice(polygon: np.ndarray, width: int, height: int) -> str:
    """Which move brings the token image into the frame (see head_centred for left and right)."""
    (x0, y0), (x1, y1) = polygon.min(axis=0), polygon.max(axis=0)
    if x1 - x0 > width or y1 - y0 > height:
        return "move_back"
    if x0 < 0:
        return "move_left"
    if x1 > width:
        return "move_right"
    return "sit_lower" if y0 < 0 else "sit_higher"


def release_models() -> None:
    """Forget every loaded face model: the detector's (:func:`capture.face.detect.release_models`)
    and the eye cascade (about 1.4 MiB).  :class:`FaceAnalyser` objects made before keep working."""
    detect.release_models()
    _eye_cascade.cache_clear()


@cache
def _eye_cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_eye_tree_eyeglasses.xml")
    if cascade.empty():
        raise RuntimeError("OpenCV's eye cascade did not load (is this OpenCV 4.x with cv2.data?)")
    return cascade


def _eyes_open(grey: np.ndarray, landmarks: Landmarks, policy: FacePolicy) -> Judged:
    if landmarks.right_eye_contour and landmarks.left_eye_contour:
        ratio = min(_eye_aspect_ratio(landmarks.right_eye_contour), _eye_aspect_ratio(landmarks.left_eye_contour))
        return _at_least("eyes_open", ratio, policy.min_eye_aspect_ratio, "eyes_open",
                         detail="eye aspect ratio of the less open eye (68-point landmarks)")
    distance = landmarks.eye_distance
    found = 0
    for centre in (landmarks.right_eye, landmarks.left_eye):
        half = int(0.45 * distance)
        x, y = int(centre[0]), int(centre[1])
        patch = grey[max(y - half, 0):y + half, max(x - half, 0):x + half]
        if patch.size == 0:
            continue
        # The patch is 0.9 eye distances wide; an eye (corner to corner about 0.45) fills a third to
        # two thirds of it.  Searching only those sizes at 40 px keeps this near a millisecond.
        patch = cv2.resize(patch, (40, 40), interpolation=cv2.INTER_AREA)
        eyes = _eye_cascade().detectMultiScale(patch, scaleFactor=1.1, minNeighbors=3, minSize=(12, 12),
                                               maxSize=(32, 32))
        found += int(len(eyes) > 0)
    if found == 2:
        return CheckOutcome("eyes_open", 2, "2 open eyes found", True, "Haar eye cascade around each eye"), ""
    return (CheckOutcome("eyes_open", found, "2 open eyes found", None,
                         f"{found} of 2 eyes recognised as open; cannot confirm without eyelid landmarks"),
            "eyes_open")


def _eye_aspect_ratio(contour: tuple[tuple[float, float], ...]) -> float:
    p1, p2, p3, p4, p5, p6 = contour
    return (math.dist(p2, p6) + math.dist(p3, p5)) / (2.0 * math.dist(p1, p4))


@cache
def _masks() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Face, left-half, right-half and background masks in the analysis geometry (60 px between the eyes)."""
    width, height = token_size(_WORK_WIDTH)
    d, cx, cy = ANALYSIS_EYE_DISTANCE, width // 2, round(0.6 * width)
    face = np.zeros((height, width), np.uint8)
    cv2.ellipse(face, (cx, cy + round(0.45 * d)), (round(0.8 * d), round(1.2 * d)), 0, 0, 360, 255, -1)
    face[: cy - round(0.5 * d)] = 0  # forehead below the hairline only
    left, right = face.copy(), face.copy()
    left[:, cx:] = 0
    right[:, :cx] = 0
    background = np.full((height, width), 255, np.uint8)
    # The head with its hair reaches about 2.1 eye distances above the eyes and 1.6 to each side.
    cv2.ellipse(background, (cx, cy - round(0.15 * d)), (round(1.75 * d), round(2.15 * d)), 0, 0, 360, 0, -1)
    background[cy + round(0.3 * d):] = 0  # shoulders and clothes are not background
    return face, left, right, background


def _appearance(pixels: np.ndarray, landmarks: Landmarks, policy: FacePolicy) -> list[Judged]:
    work = warp_token(pixels, landmarks, _WORK_WIDTH)
    luma = cv2.cvtColor(work, cv2.COLOR_BGR2GRAY)
    face, left, right, background = _masks()
    values = luma[face > 0]
    mean = float(values.mean())
    dark = float(np.count_nonzero(values <= 25)) / values.size
    bright = float(np.count_nonzero(values >= 247)) / values.size
    histograms = [cv2.calcHist([luma], [0], mask, [32], [0, 256]).ravel() for mask in (left, right)]
    left_hist, right_hist = (h / max(h.sum(), 1.0) for h in histograms)
    uniformity = float(np.minimum(left_hist, right_hist).sum())
    # Laplacian variance over luminance variance: a darker or flatter-lit face is not a blurred one.
    laplacian = cv2.Laplacian(luma, cv2.CV_32F, ksize=3)
    sharpness = float(laplacian[face > 0].var()) / max(float(values.var()), 1.0)
    chroma = cv2.cvtColor(work, cv2.COLOR_BGR2YCrCb)[:, :, 1:][face > 0].astype(np.float32)
    departure = np.linalg.norm(chroma - np.median(chroma, axis=0), axis=1)
    occluded = float(np.count_nonzero(departure > OCCLUSION_CHROMA)) / departure.size
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)
    gradient = float((gx * gx + gy * gy)[background > 0].mean())
    light = "more_light" if mean < (policy.brightness[0] + policy.brightness[1]) / 2 else "less_light"
    return [
        _range("brightness", mean, policy.brightness, "more_light", "less_light", detail="mean face luminance"),
        _at_most("under_exposure", dark, policy.max_under_exposure, "more_light"),
        _at_most("over_exposure", bright, policy.max_over_exposure, "less_light"),
        _at_least("illumination_uniformity", uniformity, policy.min_illumination_uniformity,
                  "even_light" if policy.brightness[0] <= mean <= policy.brightness[1] else light),
        _at_least("sharpness", sharpness, policy.min_sharpness, "hold_still",
                  detail="Laplacian variance / luminance variance, face at 60 px between the eyes"),
        _at_most("occlusion", occluded, policy.max_occlusion, "uncover_face",
                 detail="share of the face whose colour departs from its median skin colour"),
        _at_most("background_uniformity", gradient, policy.max_background_gradient, "plain_background"),
    ]
