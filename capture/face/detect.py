"""Face detection and landmarks with models that install from PyPI and load offline.

* Detector: dlib's frontal-face HOG detector (``get_frontal_face_detector``; the model is compiled
  into dlib, no file).  It scans an 80 x 80 px window over an image pyramid, so its cost grows
  with the pixels it is given: a full scan runs on a copy of the frame scaled to
  ``detection_width`` (default 640 px), which finds faces from about 160 px wide in a 1280-px
  frame, i.e. from about 80 px between the eyes, just under the 90 px ICAO minimum.  That scan
  takes about 15 ms on a small machine, half of a 30 fps frame period, so between full scans
  (every ``full_scan_every`` frames) the face is *tracked*: searched again only around where it
  was, at the scale that makes it about 100 px wide (a few ms).  Other faces are seen by the full
  scans, so a second person is noticed within ``full_scan_every`` frames.
* Landmarks: dlib's 5-point model (two corners of each eye and the base of the nose), shipped by
  the ``face_recognition_models`` package; released into the public domain by its author (dlib-models
  README).  Run on the full-resolution frame.
* Optional: the 68-point model (jaw line, eyelids...), trained on iBUG 300-W whose licence excludes
  commercial use, so it is only loaded when a deployment says it may (``use_68_points``).

The files are found inside the installed ``face_recognition_models`` package without importing it
(its ``__init__`` needs ``pkg_resources``, which new setuptools no longer ship): nothing is
downloaded at run time.  See docs/face-models.md for the table of models, sizes and licences.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import dlib
import numpy as np

Point = tuple[float, float]

MODEL_FILES = {
    "landmarks_5": "shape_predictor_5_face_landmarks.dat",
    "landmarks_68": "shape_predictor_68_face_landmarks.dat",
    "embedding": "dlib_face_recognition_resnet_model_v1.dat",
}


class ModelMissing(RuntimeError):
    """A face model file is not installed (the ``face_recognition_models`` package is missing or partial)."""


def model_path(name: str) -> Path:
    """Where the installed model file ``name`` (a key of :data:`MODEL_FILES`) is."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelMissing("the face_recognition_models package is not installed (pip install face_recognition_models)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / MODEL_FILES[name]
    if not path.is_file():
        raise ModelMissing(f"face model file {path} is missing; reinstall face_recognition_models")
    return path


@cache
def _shape_predictor(name: str) -> dlib.shape_predictor:
    return dlib.shape_predictor(str(model_path(name)))


@cache
def _hog_detector() -> dlib.fhog_object_detector:
    return dlib.get_frontal_face_detector()


def release_models() -> None:
    """Forget the loaded detector and landmark models (about 13 MiB with the 5-point predictor).

    A detector made before keeps its own references and goes on working; the next
    :class:`FaceDetector` loads the models again (about 0.3 s).  The kiosk releases them when its
    photo step is over: a station spends most of its time between photos."""
    _shape_predictor.cache_clear()
    _hog_detector.cache_clear()


@dataclass(frozen=True)
class Landmarks:
    """Landmarks of one face in frame pixels.  "Right eye" is the subject's right eye, which is on
    the image's left in a camera picture (ISO/IEC 19794-5 naming)."""

    right_eye: Point
    left_eye: Point
    nose_base: Point
    """The point under the nose (subnasale) of the 5-point model."""
    chin: Point | None = None
    """Menton, with the 68-point model only."""
    right_eye_contour: tuple[Point, ...] = ()
    """Six eyelid points (68-point model), for the eye aspect ratio."""
    left_eye_contour: tuple[Point, ...] = ()

    @property
    def eye_midpoint(self) -> Point:
        return ((self.right_eye[0] + self.left_eye[0]) / 2, (self.right_eye[1] + self.left_eye[1]) / 2)

    @property
    def eye_distance(self) -> float:
        return float(np.hypot(self.left_eye[0] - self.right_eye[0], self.left_eye[1] - self.right_eye[1]))


@dataclass(frozen=True)
class DetectedFace:
    """A face found in a frame: its box (x0, y0, x1, y1) in frame pixels, the detector's score and,
    for the main face only, its landmarks."""

    box: tuple[int, int, int, int]
    score: float
    landmarks: Landmarks | None = None

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


class FaceDetector:
    """Finds faces in a frame and puts landmarks on the largest one (the citizen in front of the camera)."""

    def __init__(self, *, detection_width: int = 640, full_scan_every: int = 3, use_68_points: bool = False) -> None:
        self.detection_width = detection_width
        self.full_scan_every = full_scan_every
        self.use_68_points = use_68_points
        self._tracked: list[DetectedFace] = []
        self._since_scan = 0
        self._detector = _hog_detector()
        self._landmarks_5 = _shape_predictor("landmarks_5")
        self._landmarks_68 = _shape_predictor("landmarks_68") if use_68_points else None

    def detect(self, grey: np.ndarray) -> list[DetectedFace]:
        """The faces in the grey frame, largest first, with landmarks on the largest.

        Successive frames of one video are expected: the largest face is tracked between full
        scans (module docstring).  Call :meth:`reset` before a frame of another scene.
        """
        faces: list[DetectedFace] = []
        if self._tracked and self._since_scan < self.full_scan_every - 1:
            found = self._search_around(grey, self._tracked[0].box)
            if found is not None:
                faces = [found, *self._tracked[1:]]
                self._since_scan += 1
        if not faces:
            faces = self._scan(grey)
            self._since_scan = 0
        if faces:
            faces[0] = DetectedFace(faces[0].box, faces[0].score, self.landmarks(grey, faces[0].box))
        self._tracked = faces
        return faces

    def reset(self) -> None:
        """Forget the tracked face: the next frame gets a full scan."""
        self._tracked, self._since_scan = [], 0

    def _scan(self, grey: np.ndarray) -> list[DetectedFace]:
        height, width = grey.shape
        scale = min(1.0, self.detection_width / width)
        faces = self._run(grey, (0, 0, width, height), scale)
        return sorted(faces, key=lambda face: face.area, reverse=True)

    def _search_around(self, grey: np.ndarray, box: tuple[int, int, int, int]) -> DetectedFace | None:
        """The face near ``box`` (where it was one frame ago), or None when it is not there."""
        height, width = grey.shape
        size = box[2] - box[0]
        margin = round(0.6 * size)
        region = (max(box[0] - margin, 0), max(box[1] - margin, 0), min(box[2] + margin, width),
                  min(box[3] + margin, height))
        faces = self._run(grey, region, min(1.0, 100.0 / size))
        return max(faces, key=lambda face: face.area) if faces else None

    def _run(self, grey: np.ndarray, region: tuple[int, int, int, int], scale: float) -> list[DetectedFace]:
        """HOG detection in ``region`` of the frame, scaled by ``scale``; boxes in frame pixels."""
        x0, y0, x1, y1 = region
        part = grey[y0:y1, x0:x1]
        if scale != 1.0:
            part = cv2.resize(part, (round((x1 - x0) * scale), round((y1 - y0) * scale)), interpolation=cv2.INTER_AREA)
        rects, scores, _ = self._detector.run(part, 0, 0.0)
        return [DetectedFace((x0 + round(r.left() / scale), y0 + round(r.top() / scale),
                              x0 + round(r.right() / scale), y0 + round(r.bottom() / scale)), float(score))
                for r, score in zip(rects, scores, strict=True)]

    def shape(self, image: np.ndarray, box: tuple[int, int, int, int]) -> dlib.full_object_detection:
        """dlib's own 5-point result for ``box`` (what the embedding model aligns the face with)."""
        return self._landmarks_5(image, dlib.rectangle(*box))

    def landmarks(self, grey: np.ndarray, box: tuple[int, int, int, int]) -> Landmarks:
        """Landmarks of the face in ``box`` (5-point; 68-point extras when enabled)."""
        rect = dlib.rectangle(*box)
        points = [(float(p.x), float(p.y)) for p in self._landmarks_5(grey, rect).parts()]
        # dlib's 5-point model: 0, 1 = outer and inner corner of the eye on the image's right
        # (the subject's left eye), 2, 3 = outer and inner corner of the other eye, 4 = under the nose.
        left_eye = _mean(points[0:2])
        right_eye = _mean(points[2:4])
        if self._landmarks_68 is None:
            return Landmarks(right_eye, left_eye, points[4])
        # iBUG 300-W numbering: 8 = menton, 36-41 = eye on the image's left, 42-47 = the other eye.
        full = [(float(p.x), float(p.y)) for p in self._landmarks_68(grey, rect).parts()]
        return Landmarks(right_eye, left_eye, points[4], chin=full[8], right_eye_contour=tuple(full[36:42]),
                         left_eye_contour=tuple(full[42:48]))


def _mean(points: list[Point]) -> Point:
    return (sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points))
