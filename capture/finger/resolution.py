"""Bringing every image to 500 ppi, the resolution fingerprint quality measures are defined at.

NFIQ 2 (ISO/IEC 29794-4) assumes 500 ppi: its 32 x 32 blocks and ridge-frequency bands are in
500 ppi pixels.  Scanners that are not 500 ppi (the NB-1010-U is 385 ppi) are resampled first.
"""

from __future__ import annotations

import cv2
import numpy as np

TARGET_PPI = 500


def to_500ppi(pixels: np.ndarray, ppi: int) -> np.ndarray:
    """``pixels`` resampled to 500 ppi (unchanged when already 500 ppi)."""
    if ppi <= 0:
        raise ValueError(f"resolution must be positive, not {ppi} ppi")
    if ppi == TARGET_PPI:
        return pixels
    scale = TARGET_PPI / ppi
    height, width = pixels.shape
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Area averaging when shrinking avoids aliasing the ridges; cubic when enlarging keeps them sharp.
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(pixels, size, interpolation=interpolation)
