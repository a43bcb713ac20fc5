"""Optional 1:1 face comparison: is the face in front of the camera the face of the chip's DG2 portrait?

dlib's ResNet face-embedding model (``dlib_face_recognition_resnet_model_v1``, shipped by
``face_recognition_models``; public domain per the dlib-models README) maps an aligned face to a
128-number vector.  dlib documents its use: two faces are the same person when the Euclidean
distance of their vectors is below 0.6, which gives 99.38 % accuracy on the LFW benchmark (dlib's
``dnn_face_recognition_ex`` and its blog post announcing the model).  That threshold is the default
here; bench/face_analysis.py prints the distances measured between the simulator's transformed
photographs of one face.  The comparison is advice for the officer, never an automatic refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import dlib
import numpy as np

from capture.face.detect import FaceDetector, model_path

SAME_PERSON_THRESHOLD = 0.6
"""dlib's documented decision threshold on the embedding distance."""


@cache
def _embedding_model() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(str(model_path("embedding")))


@dataclass(frozen=True)
class Comparison:
    distance: float
    threshold: float

    @property
    def same_person(self) -> bool:
        return self.distance < self.threshold


class FaceComparator:
    """Embeds faces and compares two of them."""

    def __init__(self, threshold: float = SAME_PERSON_THRESHOLD) -> None:
        self.threshold = threshold
        self._detector = FaceDetector(full_scan_every=1)
        self._model = _embedding_model()

    def embedding(self, pixels: np.ndarray) -> np.ndarray | None:
        """The 128-d embedding of the largest face in the BGR image, or None when there is no face."""
        self._detector.reset()
        grey = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        faces = self._detector.detect(grey)
        if not faces:
            # A tightly cropped portrait (a DG2 token image) may fill too much of the picture for the
            # detector's window; a grey border gives it the context it was trained with.
            border = pixels.shape[0] // 3
            pixels = cv2.copyMakeBorder(pixels, border, border, border, border, cv2.BORDER_REPLICATE)
            grey = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
            faces = self._detector.detect(grey)
            if not faces:
                return None
        rgb = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
        shape = self._detector.shape(grey, faces[0].box)
        return np.asarray(self._model.compute_face_descriptor(rgb, shape), dtype=np.float64)

    def compare(self, first: np.ndarray, second: np.ndarray) -> Comparison | None:
        """The comparison of the largest faces of two BGR images; None when either has no face."""
        a, b = self.embedding(first), self.embedding(second)
        if a is None or b is None:
            return None
        return Comparison(float(np.linalg.norm(a - b)), self.threshold)
