"""Synthetic fingerprints: deterministic, fingerprint-like, and degraded monotonically on request."""

from __future__ import annotations

import time
from collections import Counter

import cv2
import numpy as np
import pytest

from hardware_sim import fingerprints as fp

R30X = {"width": 256, "height": 288, "ppi": 500}  # a ZFM/R30x-class sensor window at ~500 ppi
WHOLE = {"width": 400, "height": 500, "ppi": 500}  # the whole master of a non-thumb finger


def _first_finger(pattern: str) -> tuple[int, int]:
    """The first (citizen seed, position) of a non-thumb finger with this pattern class."""
    for seed in range(200):
        for position in (2, 3, 4, 7, 8, 9):
            if fp.finger_class(seed, position) == pattern:
                return seed, position
    raise AssertionError(f"no {pattern} among 200 citizens")


def _normalised_correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64) - a.mean()
    b = b.astype(np.float64) - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _best_match(image: np.ndarray, other: np.ndarray) -> float:
    """Best normalised correlation of the centre 96 x 96 of ``image`` anywhere in ``other``."""
    h, w = image.shape
    patch = image[h // 2 - 48 : h // 2 + 48, w // 2 - 48 : w // 2 + 48].astype(np.float32)
    return float(cv2.matchTemplate(other.astype(np.float32), patch, cv2.TM_CCOEFF_NORMED).max())


def _ridge_period(image: np.ndarray) -> float:
    """Mean ridge period (pixels) of the centre 128 x 128: 128 over the power-weighted mean spatial
    frequency, within the band of plausible ridge frequencies (periods of 4 to 16 px)."""
    h, w = image.shape
    crop = image[h // 2 - 64 : h // 2 + 64, w // 2 - 64 : w // 2 + 64].astype(np.float64)
    crop = (crop - crop.mean()) * np.outer(np.hanning(128), np.hanning(128))
    power = np.abs(np.fft.fftshift(np.fft.fft2(crop))) ** 2
    yy, xx = np.mgrid[-64:64, -64:64]
    radius = np.hypot(xx, yy)
    band = (radius >= 8) & (radius <= 32)
    return 128.0 / float((radius[band] * power[band]).sum() / power[band].sum())


def _doubled_orientation(image: np.ndarray) -> np.ndarray:
    """Doubled ridge-normal angle per pixel from the smoothed gradient structure tensor, y pointing up."""
    smooth = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0)
    gy = -cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    gxx, gyy, gxy = (cv2.GaussianBlur(g, (0, 0), 5.0) for g in (gx * gx, gy * gy, gx * gy))
    return np.arctan2(2.0 * gxy, gxx - gyy)


def _poincare_index(doubled: np.ndarray, x: float, y: float, radius: float) -> float:
    """Turns of the ridge orientation along a counter-clockwise circle, in half-turns of the field."""
    t = np.linspace(0.0, 2.0 * np.pi, 72, endpoint=False)
    xs = np.rint(x + radius * np.cos(t)).astype(int)
    ys = np.rint(y - radius * np.sin(t)).astype(int)
    angles = doubled[ys, xs]
    steps = np.diff(np.append(angles, angles[0]))
    steps = (steps + np.pi) % (2.0 * np.pi) - np.pi
    return float(steps.sum() / (4.0 * np.pi))


def _impression_points(points, **placement) -> list[tuple[float, float]]:
    seed, position = placement.pop("finger")
    matrix = fp.impression_transform(seed, position, **placement)
    return [tuple(matrix @ [x, y, 1.0]) for x, y in points]


def _dark_fraction(image: np.ndarray) -> float:
    return float((image < 150).mean())


def _ridge_fragments(image: np.ndarray) -> int:
    count, _, stats, _ = cv2.connectedComponentsWithStats((image < 150).astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= 5).sum())


def test_same_arguments_give_the_same_image_even_after_the_cache_is_dropped() -> None:
    args = {"pressure": 0.8, "dryness": 0.3, "noise": 0.2, "blur": 0.7, "attempt": 3, **R30X}
    first = fp.render_impression(11, 2, **args)
    fp.master_print.cache_clear()
    second = fp.render_impression(11, 2, **args)
    assert np.array_equal(first, second)


def test_impression_has_the_sensor_size_and_looks_like_a_print() -> None:
    for size in (R30X, {"width": 256, "height": 180, "ppi": 385}):
        image = fp.render_impression(11, 2, **size)
        assert image.dtype == np.uint8
        assert image.shape == (size["height"], size["width"])
        assert np.percentile(image, 5) < 90, "ridges should be dark"
        assert np.percentile(image, 95) > 215, "valleys and background should be light"
    # Shifted far to the right, the left part of the sensor sees no finger: plain light background.
    off = fp.render_impression(11, 2, dx_mm=12.0, **R30X)
    assert 220 <= off[:, :40].min() and off[:, :40].max() <= 235


def test_attempts_differ_but_show_the_same_finger() -> None:
    first = fp.render_impression(12, 3, attempt=0, **R30X)
    second = fp.render_impression(12, 3, attempt=1, **R30X)
    assert not np.array_equal(first, second)
    assert _best_match(first, second) > 0.5


def test_other_fingers_and_other_citizens_differ() -> None:
    reference = fp.render_impression(12, 3, **R30X)
    for seed, position in ((12, 4), (13, 3)):
        other = fp.render_impression(seed, position, **R30X)
        assert abs(_normalised_correlation(reference, other)) < 0.3
        assert _best_match(reference, other) < 0.45


def test_ridge_period_is_about_nine_pixels_at_500_ppi_and_scales_with_ppi() -> None:
    for seed, position in ((11, 2), (12, 3), (13, 3), (12, 4)):
        at_500 = _ridge_period(fp.render_impression(seed, position, **R30X))
        assert 7.5 <= at_500 <= 11.5
        at_385 = _ridge_period(fp.render_impression(seed, position, width=256, height=180, ppi=385))
        assert at_385 == pytest.approx(at_500 * 385 / 500, rel=0.1)


@pytest.mark.parametrize("pattern", ["left_loop", "right_loop", "whorl", "tented_arch"])
def test_singular_points_have_the_poincare_index_of_cores_and_deltas(pattern: str) -> None:
    finger = _first_finger(pattern)
    placement = {"rotation_deg": 15.0, "dx_mm": 0.5, **WHOLE}
    doubled = _doubled_orientation(fp.render_impression(*finger, **placement))
    points = fp.singular_points(*finger)
    cores = _impression_points(points.cores, finger=finger, **placement)
    deltas = _impression_points(points.deltas, finger=finger, **placement)
    radius = 12.0  # smaller than any core-delta distance the model places
    if pattern == "whorl":
        # The two cores of a whorl may lie closer than the radius: go round both (+1/2 each).
        (x1, y1), (x2, y2) = cores
        assert _poincare_index(doubled, (x1 + x2) / 2, (y1 + y2) / 2, 30.0) == pytest.approx(1.0, abs=0.05)
    else:
        ((x, y),) = cores
        assert _poincare_index(doubled, x, y, radius) == pytest.approx(0.5, abs=0.05)
    for x, y in deltas[:1]:  # the second delta of a whorl may lie outside the contact area
        assert _poincare_index(doubled, x, y, radius) == pytest.approx(-0.5, abs=0.05)


def test_plain_arch_has_no_singular_point() -> None:
    finger = _first_finger("arch")
    assert fp.singular_points(*finger) == fp.SingularPoints(cores=(), deltas=())
    doubled = _doubled_orientation(fp.render_impression(*finger, **WHOLE))
    for x, y in ((200, 220), (150, 280), (250, 280)):
        assert _poincare_index(doubled, x, y, 40.0) == pytest.approx(0.0, abs=0.05)


def test_singular_points_match_the_pattern_class() -> None:
    for seed in range(40):
        for position in range(1, 11):
            pattern = fp.finger_class(seed, position)
            points = fp.singular_points(seed, position)
            expected = {"arch": 0, "tented_arch": 1, "left_loop": 1, "right_loop": 1, "whorl": 2}[pattern]
            assert len(points.cores) == len(points.deltas) == expected
            if pattern in ("left_loop", "right_loop"):
                # A left loop opens to the left, so its delta lies to the right of the core.
                delta_is_right = points.deltas[0][0] > points.cores[0][0]
                assert delta_is_right == (pattern == "left_loop")
                assert points.deltas[0][1] > points.cores[0][1]


def test_pattern_classes_have_population_frequencies() -> None:
    counts = Counter(fp.finger_class(seed, position) for seed in range(500) for position in range(1, 11))
    share = {pattern: counts[pattern] / 5000 for pattern in fp.PATTERN_CLASSES}
    assert 0.03 <= share["arch"] <= 0.09
    assert 0.015 <= share["tented_arch"] <= 0.06
    assert 0.25 <= share["left_loop"] <= 0.38
    assert 0.25 <= share["right_loop"] <= 0.38
    assert 0.20 <= share["whorl"] <= 0.36
    # Ulnar loops dominate: right loops on the right hand (positions 1-5), left loops on the left.
    right_hand = Counter(fp.finger_class(seed, position) for seed in range(500) for position in range(1, 6))
    assert right_hand["right_loop"] > 4 * right_hand["left_loop"]
    thumbs = Counter(fp.finger_class(seed, 1) for seed in range(500))
    little = Counter(fp.finger_class(seed, 5) for seed in range(500))
    assert thumbs["whorl"] > little["whorl"]


def test_lighter_pressure_gives_a_smaller_darker_foreground_monotonically() -> None:
    fractions = [
        _dark_fraction(fp.render_impression(12, 3, pressure=p, **R30X)) for p in (1.5, 1.0, 0.8, 0.6, 0.4)
    ]
    assert all(a > b for a, b in zip(fractions, fractions[1:], strict=False)), fractions
    assert fractions[-1] < 0.6 * fractions[1]


def test_dryness_breaks_ridges_into_more_fragments_and_lightens_them() -> None:
    images = [fp.render_impression(12, 3, dryness=d, **R30X) for d in (0.0, 0.3, 0.5, 0.7)]
    fragments = [_ridge_fragments(image) for image in images]
    assert all(a < b for a, b in zip(fragments, fragments[1:], strict=False)), fragments
    means = [float(image.mean()) for image in images]
    assert all(a < b for a, b in zip(means, means[1:], strict=False)), means


def test_noise_blur_and_contrast_degrade_monotonically() -> None:
    def high_pass_energy(image: np.ndarray) -> float:
        return float(np.abs(cv2.Laplacian(image.astype(np.float32), cv2.CV_32F)).mean())

    def spread(image: np.ndarray) -> float:
        return float(np.percentile(image, 95) - np.percentile(image, 5))

    noisy = [high_pass_energy(fp.render_impression(12, 3, noise=n, **R30X)) for n in (0.0, 0.2, 0.5)]
    assert noisy[0] < noisy[1] < noisy[2]
    blurred = [high_pass_energy(fp.render_impression(12, 3, blur=b, **R30X)) for b in (0.0, 1.0, 2.0)]
    assert blurred[0] > blurred[1] > blurred[2]
    flat = [spread(fp.render_impression(12, 3, contrast=c, **R30X)) for c in (1.0, 0.6, 0.3)]
    assert flat[0] > flat[1] > flat[2]


def test_shifting_the_finger_moves_the_print_on_the_sensor() -> None:
    shift_px = round(1.0 * 500 / 25.4)  # 1 mm at 500 ppi
    still = fp.render_impression(12, 3, **R30X)
    moved = fp.render_impression(12, 3, dx_mm=1.0, **R30X)
    assert _normalised_correlation(still[:, :-shift_px], moved[:, shift_px:]) > 0.8
    assert _normalised_correlation(still, moved) < 0.5


def test_impression_from_a_cached_master_returns_promptly() -> None:
    fp.render_impression(12, 3, **R30X)
    started = time.perf_counter()
    for attempt in range(10):
        fp.render_impression(12, 3, attempt=attempt, dryness=0.3, noise=0.2, blur=0.5, **R30X)
    assert (time.perf_counter() - started) / 10 < 0.5


def test_any_integer_seed_works_and_bad_arguments_are_refused() -> None:
    assert fp.finger_class(-5, 1) in fp.PATTERN_CLASSES
    assert fp.finger_class(2**80, 1) in fp.PATTERN_CLASSES
    for position in (0, 11):
        with pytest.raises(ValueError, match="position"):
            fp.finger_class(1, position)
    for bad in ({"dryness": 1.5}, {"pressure": 0.0}, {"noise": -0.1}):
        with pytest.raises(ValueError, match="out-of-range"):
            fp.render_impression(12, 3, **bad, **R30X)
    with pytest.raises(ValueError, match="positive"):
        fp.render_impression(12, 3, width=0, height=10, ppi=500)
