"""Foreground segmentation: the part of a fingerprint image that holds ridges.

A sensor with no finger shows a flat light background; where a finger touches, ridges make the
grey level vary *and* the gradients line up (ridges are locally parallel).  A pixel is foreground
when, over a 16 x 16 window around it, the standard deviation of the grey levels is high enough and
the gradient orientations are coherent (Bazen & Gerez, "Segmentation of fingerprint images", 2001,
use the same two block features).  Sensor noise has variance but no coherence; a smudge has
neither.  Morphological closing then opening fills the gaps between ridges and removes specks,
and only the largest connected region is kept: the finger.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WINDOW = 16
MIN_STD = 8.0
"""Grey-level standard deviation below which a window is background (flat sensor)."""
MIN_COHERENCE = 0.25
"""Gradient coherence below which a window is noise rather than ridges."""
_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15))


@dataclass(frozen=True)
class Foreground:
    """Where the finger touched the sensor."""

    mask: np.ndarray
    """Boolean, same shape as the image: True on the finger."""
    area_px: int
    bbox: tuple[int, int, int, int]
    """(x, y, width, height) of the finger region; all zero when there is none."""
    centre_offset: tuple[float, float]
    """Centre of the region relative to the sensor centre, as a fraction of half the sensor's width
    and height: (0, 0) is centred, (-1, 0) is on the left edge."""

    @property
    def area_fraction(self) -> float:
        """Share of the sensor covered by the finger."""
        return self.area_px / self.mask.size

    @property
    def empty(self) -> bool:
        return self.area_px == 0


def local_statistics(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel grey-level standard deviation and gradient coherence over a WINDOW-sized box."""
    image = pixels.astype(np.float32)
    mean = cv2.boxFilter(image, -1, (WINDOW, WINDOW))
    mean_sq = cv2.boxFilter(image * image, -1, (WINDOW, WINDOW))
    std = np.sqrt(np.maximum(mean_sq - mean * mean, 0))
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=3)
    gxx = cv2.boxFilter(gx * gx, -1, (WINDOW, WINDOW))
    gyy = cv2.boxFilter(gy * gy, -1, (WINDOW, WINDOW))
    gxy = cv2.boxFilter(gx * gy, -1, (WINDOW, WINDOW))
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / np.maximum(gxx + gyy, 1e-6)
    return std, coherence


def segment(pixels: np.ndarray) -> Foreground:
    """The finger region of a 500 ppi image."""
    std, coherence = local_statistics(pixels)
    raw = ((std > MIN_STD) & (coherence > MIN_COHERENCE)).astype(np.uint8)
    mask = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, _KERNEL)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _KERNEL)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    height, width = pixels.shape
    if count <= 1:
        return Foreground(np.zeros_like(mask, dtype=bool), 0, (0, 0, 0, 0), (0.0, 0.0))
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    finger = (labels == largest).astype(np.uint8)
    # Fill holes (a scar or a dry patch inside the finger is still finger).
    contours, _ = cv2.findContours(finger, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(finger, contours, -1, 1, thickness=cv2.FILLED)
    x, y, w, h = cv2.boundingRect(finger)
    moments = cv2.moments(finger, binaryImage=True)
    cx, cy = moments["m10"] / moments["m00"], moments["m01"] / moments["m00"]
    offset = ((cx - width / 2) / (width / 2), (cy - height / 2) / (height / 2))
    return Foreground(finger.astype(bool), int(finger.sum()), (x, y, w, h), offset)
