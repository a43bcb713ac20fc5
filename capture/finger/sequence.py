"""The sequence check: is a new print the same finger as one already taken for another position?

Presenting the same finger twice (the index again instead of the middle finger) is a common
mistake and a known fraud; a registry that de-duplicates on ten prints is blinded by it.  We do not
need a full matcher to catch it: the same finger re-placed shows the *same ridge pattern* after a
small shift and rotation, while two different fingers of one person only share the ridge period.

Method (minutiae-free correlation after alignment, in the spirit of Bazen et al., "A
correlation-based fingerprint verification system", ProRISC 2000):

1. Each print is resampled to 500 ppi, segmented, and turned into a *ridge signal*: the grey level
   minus its local mean, divided by its local spread (so pressure and dryness change it little),
   zero outside the finger.
2. For rotations of the candidate from -24 to +24 degrees, phase correlation finds the best shift;
   the normalised cross-correlation of the two ridge signals over their overlap is the similarity
   at that pose.  A coarse search runs at half resolution, the best rotation is refined at full.
3. Similarity >= ``threshold`` over at least ``min_overlap_px`` of common finger area means "same
   finger".  ``bench/sequence_check.py`` measures the false-reject and false-accept rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from capture.finger.resolution import to_500ppi
from capture.finger.segmentation import segment

COARSE_ANGLES = tuple(range(-24, 25, 4))
FINE_STEP = 1.0
DEFAULT_THRESHOLD = 0.30
MIN_OVERLAP_PX = 12_000


@dataclass(frozen=True)
class RidgeSignal:
    """A print prepared for comparison (500 ppi)."""

    signal: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class Similarity:
    """Best alignment of two prints."""

    score: float
    """Normalised cross-correlation of the ridge signals over the overlap (-1..1)."""
    angle_deg: float
    shift: tuple[float, float]
    overlap_px: int


def ridge_signal(pixels: np.ndarray, ppi: int) -> RidgeSignal:
    """Prepare a print for :func:`compare`."""
    image = to_500ppi(pixels, ppi).astype(np.float32)
    mask = segment(image.astype(np.uint8)).mask
    mean = cv2.GaussianBlur(image, (0, 0), 6)
    centred = image - mean
    spread = np.sqrt(cv2.GaussianBlur(centred * centred, (0, 0), 6)) + 1.0
    mask = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    return RidgeSignal(np.where(mask, centred / spread, 0).astype(np.float32), mask)


def compare(first: RidgeSignal, second: RidgeSignal) -> Similarity:
    """The best similarity of ``second`` to ``first`` over rotations and shifts."""
    # Room to turn either print; twice a size the DFT is fast at, so that both levels of the search are.
    size = 2 * cv2.getOptimalDFTSize(math.ceil(max(*first.signal.shape, *second.signal.shape) * 0.75))
    base, base_mask = _canvas(first.signal, size), _canvas(first.mask.astype(np.float32), size)
    best = Similarity(-1.0, 0.0, (0.0, 0.0), 0)
    full = _reference(base, base_mask)
    half = _reference(cv2.pyrDown(base), cv2.pyrDown(base_mask))
    coarse = max(
        (_at_angle(half, second, angle, size, scale=0.5) for angle in COARSE_ANGLES), key=lambda s: s.score
    )
    for angle in np.arange(coarse.angle_deg - 3, coarse.angle_deg + 3 + 1e-6, FINE_STEP):
        found = _at_angle(full, second, float(angle), size, scale=1.0)
        if found.score > best.score:
            best = found
    return best


def same_finger(similarity: Similarity, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """Whether a similarity means the same finger (needs enough overlap to say so)."""
    return similarity.overlap_px >= MIN_OVERLAP_PX and similarity.score >= threshold


def _canvas(image: np.ndarray, size: int) -> np.ndarray:
    canvas = np.zeros((size, size), np.float32)
    height, width = image.shape
    top, left = (size - height) // 2, (size - width) // 2
    canvas[top:top + height, left:left + width] = image
    return canvas


def _reference(signal: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first print on its canvas: signal, mask and the signal's spectrum (computed once, used per angle)."""
    return signal, mask, cv2.dft(signal, flags=cv2.DFT_COMPLEX_OUTPUT)


def _at_angle(
    base: tuple[np.ndarray, np.ndarray, np.ndarray], other: RidgeSignal, angle: float, size: int, *, scale: float
) -> Similarity:
    base_signal, base_mask, base_spectrum = base
    signal = _canvas(other.signal, size)
    mask = _canvas(other.mask.astype(np.float32), size)
    if scale != 1.0:
        signal, mask = cv2.pyrDown(signal), cv2.pyrDown(mask)
    n = signal.shape[0]
    rotation = cv2.getRotationMatrix2D((n / 2, n / 2), angle, 1.0)
    signal = cv2.warpAffine(signal, rotation, (n, n), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(mask, rotation, (n, n), flags=cv2.INTER_LINEAR)
    dx, dy = _phase_shift(base_spectrum, signal)
    shift = np.float32([[1, 0, -dx], [0, 1, -dy]])
    signal = cv2.warpAffine(signal, shift, (n, n), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(mask, shift, (n, n), flags=cv2.INTER_LINEAR)
    overlap = (mask > 0.5) & (base_mask > 0.5)
    count = int(overlap.sum())
    overlap_px = int(count / (scale * scale))
    if count < 50:
        return Similarity(-1.0, angle, (dx / scale, dy / scale), overlap_px)
    a, b = base_signal[overlap], signal[overlap]
    a, b = a - a.mean(), b - b.mean()
    score = float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-9))
    return Similarity(score, angle, (dx / scale, dy / scale), overlap_px)


def _phase_shift(base_spectrum: np.ndarray, moved: np.ndarray) -> tuple[float, float]:
    """(dx, dy) by which ``moved`` is displaced from the base print: the peak of their phase correlation.

    Not ``cv2.phaseCorrelate``: it places the peak at the centroid of a 5 x 5 window, and on ridge
    patterns (period ~9 px, ~4.7 px at half resolution) that window takes in the neighbouring lobes,
    of opposite sign, so the shift found can be half a ridge off and the prints anti-correlated.  Here
    the highest sample is refined by a parabola through its two neighbours on each axis.
    """
    cross = cv2.mulSpectrums(cv2.dft(moved, flags=cv2.DFT_COMPLEX_OUTPUT), base_spectrum, 0, conjB=True)
    phase = cross.view(np.complex64)[..., 0]
    phase /= np.abs(phase) + 1e-9  # phase only: every frequency weighs the same
    surface = cv2.idft(cross, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    _, _, _, (x, y) = cv2.minMaxLoc(surface)
    height, width = surface.shape
    dx = x + _parabola_peak(surface[y, (x - 1) % width], surface[y, x], surface[y, (x + 1) % width])
    dy = y + _parabola_peak(surface[(y - 1) % height, x], surface[y, x], surface[(y + 1) % height, x])
    # The correlation is circular: peaks past the middle are negative shifts.
    return float(dx - width if dx >= width / 2 else dx), float(dy - height if dy >= height / 2 else dy)


def _parabola_peak(before: float, peak: float, after: float) -> float:
    """Offset (-0.5..0.5) of the vertex of the parabola through three samples around a maximum."""
    curvature = before - 2 * peak + after
    return 0.0 if curvature >= 0 else 0.5 * (before - after) / curvature
