"""A 0-100 fingerprint quality score with its reasons and the citizen's feedback.

NFIQ 2 turns its 69 features into a score with a random forest trained on millions of
operational prints; that model is not something we can retrain here, and a copy would not be
ours to ship.  We keep its feature *families* (``capture.finger.features``) and combine them
transparently, so an auditor can follow every point of the score:

1. The image is resampled to 500 ppi and segmented (``capture.finger.segmentation``).
2. Each finger block gets a local quality: the product of six sub-scores, each raised to its
   weight (table ``RAMPS``; the weights sum to 2.3, so this is stricter than a geometric mean), each
   sub-score a linear ramp from a "bad" to a "good" value of one feature: OCL, LCS, FDA, orientation
   flow, ridge/valley width ratio, contrast.  A product lets one failing aspect pull a block down,
   which an arithmetic mean would hide.
3. The image's local quality is the mean over its finger blocks.
4. Contact: the finger area is compared with a "good" area (``area_good_px``; NFIQ 2's actionable
   feedback flags < 50,000 px of foreground at 500 ppi, which small sensors cannot reach, so the
   default is the smaller of that and 75 % of the sensor).
5. score = 100 x local quality x min(1, area / good area), rounded.

Where the image is no fingerprint at all (flat, blank, almost no ridge area) the score is 0 with
that reason.  The problems found are listed from the most to the least important; the first one's
feedback is what the citizen is told.  ``docs/fingerprint-quality.md`` has the calibration.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from capture.finger.features import BlockFeatures, block_features
from capture.finger.resolution import to_500ppi
from capture.finger.segmentation import Foreground, segment
from drivers.errors import N_

NFIQ2_MIN_FOREGROUND_PX = 50_000
"""NFIQ 2's actionable-feedback threshold for too little foreground, at 500 ppi."""

BLURRED_FINGER_MIN_STD = 10.0
"""Grey-level spread above which an image without ridges still shows a finger (smeared or blurred)."""
PROBLEM_BELOW = 0.7
"""An aspect whose sub-score (mean over the finger blocks) is below this is reported as a problem."""
LIGHT_FINGER_GREY = 175.0
"""Mean grey of the finger above which weak ridges mean a light touch or a dry finger, not blur."""

RAMPS: dict[str, tuple[float, float, float]] = {
    # feature: (value scoring 0, value scoring 1, weight); values in between score linearly.
    "ocl": (0.35, 0.85, 0.5),
    "lcs": (0.60, 0.92, 0.5),
    "fda": (0.25, 0.45, 0.3),
    "orientation_flow": (0.50, 0.95, 0.2),
    "ridge_valley_balance": (1.5, 0.5, 0.3),
    "contrast": (15.0, 90.0, 0.5),
}
"""Ramps from a bad to a good feature value.  ``ridge_valley_balance`` is |log2(ridge/valley width)|
(0 = equal widths), so it falls from good to bad."""


class Problem(enum.Enum):
    """What can be wrong with a print, most important first, and what to tell the citizen."""

    NO_FINGER = ("no finger", N_("Place your finger on the scanner."))
    TOO_LITTLE_CONTACT = ("too little contact", N_("Press your finger flat on the scanner, a little harder."))
    OFF_CENTRE = ("finger not centred", N_("Place the finger in the centre of the scanner."))
    TOO_WET = ("finger too wet", N_("Your finger is too wet. Wipe it and try again."))
    TOO_DRY = ("finger too dry", N_("Your finger is too dry. Breathe on it lightly and try again."))
    TOO_BLURRED = ("too blurred", N_("Hold your finger still on the scanner."))
    LOW_CONTRAST = ("low contrast", N_("Press a little harder."))
    UNCLEAR_RIDGES = ("unclear ridges", N_("Clean your finger and the scanner, then try again."))

    def __init__(self, reason: str, feedback: str) -> None:
        self.reason = reason
        """Short English reason for logs and the record."""
        self.feedback = feedback
        """Instruction for the citizen (a gettext message id)."""


@dataclass(frozen=True)
class QualityPolicy:
    """Thresholds for the diagnosis of problems (the score's ramps are fixed in ``RAMPS``)."""

    area_good_px: int | None = None
    """Finger area (500 ppi px) that earns full contact credit; None = min(50,000, 75 % of the sensor)."""
    off_centre: float = 0.35
    """Centre offset (fraction of the half sensor) beyond which a finger touching an edge is off-centre."""


@dataclass(frozen=True)
class QualityReport:
    """The score of one image and how it was reached."""

    score: int
    problems: tuple[Problem, ...]
    features: dict[str, float] = field(default_factory=dict)
    """Image-level feature values (medians over the finger blocks, area, grey levels)."""
    foreground: Foreground | None = None

    @property
    def feedback(self) -> str | None:
        """What to tell the citizen (gettext message id), or None when nothing is wrong."""
        return self.problems[0].feedback if self.problems else None


def assess(pixels: np.ndarray, ppi: int, policy: QualityPolicy | None = None) -> QualityReport:
    """Score one fingerprint image (2-D uint8, dark ridges on light) taken at ``ppi``."""
    policy = policy or QualityPolicy()
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 image, got {pixels.dtype} of shape {pixels.shape}")
    image = to_500ppi(pixels, ppi)
    grey_mean, grey_std = float(image.mean()), float(image.std())
    features: dict[str, float] = {"grey_mean": grey_mean, "grey_std": grey_std}
    # NFIQ 2's feedback for an empty or uniform image: mean grey > 250, or standard deviation < 1.
    if grey_mean > 250 or grey_std < 1:
        return QualityReport(0, (Problem.NO_FINGER,), features)

    foreground = segment(image)
    area_good = policy.area_good_px or min(NFIQ2_MIN_FOREGROUND_PX, int(0.75 * image.size))
    features["area_px"] = float(foreground.area_px)
    features["area_fraction"] = foreground.area_fraction
    blocks = block_features(image, foreground.mask) if not foreground.empty else None
    if blocks is None or len(blocks) < 4 or foreground.area_px < 0.1 * area_good:
        # A finger pressed on the sensor darkens it even when no ridge can be told apart.
        problem = Problem.TOO_BLURRED if grey_std > BLURRED_FINGER_MIN_STD else Problem.NO_FINGER
        return QualityReport(0, (problem,), features, foreground)

    sub_scores = _sub_scores(blocks)
    weighted = sum(RAMPS[name][2] * np.log(np.maximum(values, 1e-3)) for name, values in sub_scores.items())
    local = float(np.exp(weighted).mean())
    contact = min(1.0, foreground.area_px / area_good)
    score = int(round(100 * local * contact))

    features.update({name: float(np.nanmedian(values)) for name, values in _raw(blocks).items()})
    features["finger_grey_mean"] = float(image[foreground.mask].mean())
    features["local_quality"] = local
    features["contact"] = contact
    aspects = {name: float(values.mean()) for name, values in sub_scores.items()}
    features.update({f"{name}_score": value for name, value in aspects.items()})
    problems = _diagnose(features, aspects, foreground, contact, policy)
    return QualityReport(score, problems, features, foreground)


def _raw(blocks: BlockFeatures) -> dict[str, np.ndarray]:
    return {
        "ocl": blocks.ocl,
        "lcs": blocks.lcs,
        "fda": blocks.fda,
        "orientation_flow": blocks.orientation_flow,
        "ridge_valley_ratio": blocks.ridge_valley_ratio,
        "contrast": blocks.contrast,
        "ridge_period": blocks.ridge_period,
    }


def _sub_scores(blocks: BlockFeatures) -> dict[str, np.ndarray]:
    balance = np.abs(np.log2(np.where(np.isnan(blocks.ridge_valley_ratio), 1e-3, blocks.ridge_valley_ratio)))
    values = {
        "ocl": blocks.ocl,
        "lcs": blocks.lcs,
        "fda": blocks.fda,
        "orientation_flow": blocks.orientation_flow,
        "ridge_valley_balance": balance,
        "contrast": blocks.contrast,
    }
    return {name: _ramp(values[name], bad, good) for name, (bad, good, _) in RAMPS.items()}


def _ramp(values: np.ndarray, bad: float, good: float) -> np.ndarray:
    return np.clip((values - bad) / (good - bad), 0.0, 1.0)


def _diagnose(
    features: dict[str, float], aspects: dict[str, float], foreground: Foreground, contact: float,
    policy: QualityPolicy,
) -> tuple[Problem, ...]:
    """The problems that explain a low score, most important first.

    Each weak aspect (sub-score below ``PROBLEM_BELOW``) is turned into what the citizen can change:
    weak contrast on a light finger is a light touch, on a dark one blur; thin ridges are a dry
    finger, fat ones a wet finger; unclear ridges on a light finger are dryness, otherwise dirt.
    """
    problems = []
    if contact < 0.6:
        problems.append(Problem.TOO_LITTLE_CONTACT)
    height, width = foreground.mask.shape
    x, y, w, h = foreground.bbox
    touches_edge = x <= 1 or y <= 1 or x + w >= width - 1 or y + h >= height - 1
    if touches_edge and max(abs(foreground.centre_offset[0]), abs(foreground.centre_offset[1])) > policy.off_centre:
        problems.append(Problem.OFF_CENTRE)
    light = features["finger_grey_mean"] > LIGHT_FINGER_GREY
    weak = {name for name, value in aspects.items() if value < PROBLEM_BELOW}
    if "ridge_valley_balance" in weak:
        problems.append(Problem.TOO_WET if features["ridge_valley_ratio"] > 1 else Problem.TOO_DRY)
    if weak & {"lcs", "fda"} and light:
        problems.append(Problem.TOO_DRY)
    if "contrast" in weak:
        problems.append(Problem.LOW_CONTRAST if light else Problem.TOO_BLURRED)
    if weak & {"ocl", "lcs", "fda", "orientation_flow"}:
        problems.append(Problem.UNCLEAR_RIDGES)
    return tuple(dict.fromkeys(problems))
