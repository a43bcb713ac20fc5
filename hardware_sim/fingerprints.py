"""Synthetic fingerprints of synthetic citizens, for the fingerprint-scanner simulators.

The simulators need images that a quality scorer (NFIQ 2-like features) and a same-finger
detector cannot tell apart from real prints statistically, that are the same every time for the
same citizen and finger, and whose degradations (pressure, dryness, noise, blur, contrast,
placement) can be turned up step by step.  The model follows SFinGe (Cappelli, Maio, Maltoni,
"Synthetic fingerprint-image generation", ICPR 2000; Maltoni et al., *Handbook of Fingerprint
Recognition*, ch. 6) in two stages:

*Master fingerprint* (per citizen seed and ISO/IEC 19794-4 finger position, 500 ppi):

1. The pattern class (arch, tented arch, left loop, right loop, whorl) is drawn with the
   frequencies seen in large populations, per finger: thumbs and ring fingers have more whorls,
   index fingers more arches and radial loops, and loops mostly open towards the little finger
   (ulnar loops: right loops on the right hand, left loops on the left hand).
2. The orientation field comes from the zero-pole model of Sherlock & Monro ("A model for
   interpreting fingerprint topology", Pattern Recognition 26(7), 1993):
   theta(z) = theta0 + 1/2 (sum over cores of arg(z - c) - sum over deltas of arg(z - d)), so a
   core has Poincare index +1/2 and a delta -1/2.  Plain arches have no singular point; their
   field comes from the level lines of a smooth bump.  The cores and deltas are placed at random
   per finger, and a smooth random perturbation (a few low-frequency sinusoids) is added so that
   no two fingers share a field.
3. Ridges are grown from white noise by iterated oriented Gabor filtering: each pass filters the
   image with a bank of Gabor filters at quantised orientations, blends the two responses nearest
   to the local orientation and clips the result.  Ridge lines emerge where the filters agree and
   minutiae (endings, bifurcations) where they meet, as in SFinGe.
4. A smooth random warp then stretches the ridge pattern by a few per cent, so the ridge period
   (about 9 px at 500 ppi, 8-11 px across citizens and fingers) varies slowly over the finger.
5. The contact region is a tilted super-ellipse with a slightly irregular outline, larger for
   thumbs.

*Impression* (per capture): the master is placed on the sensor (scale to the sensor's ppi, shift,
rotation, plus small per-``attempt`` variation) and turned into grey levels: dark ridges on a light
background.  Pressure sets the contact area and ridge width, dryness breaks ridges into fragments
and lightens them, then blur, contrast and sensor noise are applied.  Every parameter acts through
a threshold or a scale that is monotone in it, so graded steps degrade the image monotonically.

Rendering a master costs about a second on a small machine, so masters are cached (bounded); an
impression from a cached master costs a few milliseconds.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass

import cv2
import numpy as np

PATTERN_CLASSES: tuple[str, ...] = ("arch", "tented_arch", "left_loop", "right_loop", "whorl")
MASTER_PPI = 500
MM_PER_INCH = 25.4

# Streams of randomness, so that changing how one thing is drawn never shifts another.
_LAYOUT_STREAM = 0x5F1A
_RIDGE_STREAM = 0x5F1B
_ATTEMPT_STREAM = 0x5F1C

# Probabilities of (arch, tented arch, ulnar loop, radial loop, whorl) per finger, thumb..little.
# Approximations of published population frequencies (e.g. Cummins & Midlo, *Finger Prints, Palms
# and Soles*, 1943; loops ~60-65 %, whorls ~25-35 %, arches ~5-8 % overall).
_CLASS_PROBABILITIES: dict[str, tuple[float, float, float, float, float]] = {
    "thumb": (0.04, 0.03, 0.45, 0.03, 0.45),
    "index": (0.08, 0.07, 0.40, 0.15, 0.30),
    "middle": (0.07, 0.05, 0.65, 0.03, 0.20),
    "ring": (0.04, 0.02, 0.52, 0.02, 0.40),
    "little": (0.03, 0.02, 0.76, 0.01, 0.18),
}
_FINGERS = ("thumb", "index", "middle", "ring", "little")

_N_ORIENTATIONS = 16
_GROWTH_PASSES = 10
_TILE = 64
_MASTER_CACHE_SIZE = 24

_BACKGROUND_GREY = 228.0
_RIDGE_DEPTH = 180.0  # grey levels between background and a fully inked ridge at contrast 1
_VALLEY_DEPTH = 6.0  # valleys in contact are a little darker than the background around the finger
_NOISE_GREY_PER_UNIT = 30.0  # sensor noise standard deviation, grey levels, at noise=1


@dataclass(frozen=True)
class SingularPoints:
    """Cores and deltas of a master fingerprint, as (x, y) in master pixels (500 ppi)."""

    cores: tuple[tuple[float, float], ...]
    deltas: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class _SmoothField:
    """A smooth random scalar field: a sum of a few low-frequency plane waves.

    Analytic, so that singular points can be moved through the warp without rendering anything.
    """

    kx: np.ndarray
    ky: np.ndarray
    phase: np.ndarray
    amplitude: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, rms: float, wavelengths: tuple[float, float]) -> _SmoothField:
        n = 6
        wavelength = rng.uniform(*wavelengths, n)
        angle = rng.uniform(0.0, 2.0 * np.pi, n)
        k = 2.0 * np.pi / wavelength
        return cls(
            kx=k * np.cos(angle),
            ky=k * np.sin(angle),
            phase=rng.uniform(0.0, 2.0 * np.pi, n),
            amplitude=np.full(n, rms * math.sqrt(2.0 / n)),
        )

    def __call__(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)[..., None]
        y = np.asarray(y, dtype=np.float64)[..., None]
        return (self.amplitude * np.cos(self.kx * x + self.ky * y + self.phase)).sum(-1)


@dataclass(frozen=True)
class _Layout:
    """Everything about a finger that is cheap to draw: class, geometry, singular points."""

    pattern: str
    width: int
    height: int
    period: float
    theta0: float
    cores: tuple[tuple[float, float], ...]
    deltas: tuple[tuple[float, float], ...]
    arch_apex: tuple[float, float, float, float]  # x, y, height, half-width (plain arch only)
    contact_centre: tuple[float, float]
    contact_axes: tuple[float, float]
    contact_tilt: float
    placement_centre: tuple[float, float]
    orientation_noise: _SmoothField
    warp_x: _SmoothField
    warp_y: _SmoothField
    outline_noise: _SmoothField

    def warped(self, x: float, y: float) -> tuple[float, float]:
        """Where the point (x, y) of the unwarped pattern ends up after the ridge warp."""
        # The warp samples the pattern at p + d(p); solve p + d(p) = (x, y) by fixed-point iteration.
        px, py = x, y
        for _ in range(8):
            px = x - float(self.warp_x(px, py))
            py = y - float(self.warp_y(px, py))
        return px, py


@dataclass(frozen=True)
class MasterPrint:
    """A rendered master fingerprint at 500 ppi (arrays are read-only).

    ``ridges`` is the ridge height in [-1, 1] (+1 on a ridge crest, -1 in a valley);
    ``contact_radius`` is the normalised radius of the contact super-ellipse (1 on its edge);
    ``skin`` is fine, unit-variance skin texture (pores, ridge breaks) used by dryness.

    Only the ridges (a second to grow) are kept; the contact radius and the skin are recomputed
    on each use from the layout and the saved random state (a few milliseconds, bit for bit the
    same), so that a cached master costs a third of the memory: the simulator shares the kiosk's
    process in ``enrol kiosk --sim`` and its memory figures (bench/kiosk_figures.py).
    """

    pattern: str
    singular_points: SingularPoints
    placement_centre: tuple[float, float]
    ridges: np.ndarray
    layout: _Layout
    skin_state: dict

    @property
    def contact_radius(self) -> np.ndarray:
        return _contact_radius(self.layout)

    @property
    def skin(self) -> np.ndarray:
        rng = np.random.Generator(np.random.PCG64())
        rng.bit_generator.state = self.skin_state
        return _unit_noise(rng, self.ridges.shape, 1.0)


def _hand_and_finger(position: int) -> tuple[str, str]:
    if not 1 <= operator.index(position) <= 10:
        raise ValueError(f"finger position must be an ISO/IEC 19794-4 position 1..10, got {position!r}")
    return ("right" if position <= 5 else "left"), _FINGERS[(position - 1) % 5]


def _rng(stream: int, *values: int) -> np.random.Generator:
    """A generator seeded from integers of any sign and size (never from ``hash()``, which Python
    salts per process for strings)."""
    entropy = [stream]
    for value in values:
        entropy += [int(operator.index(value) < 0), abs(operator.index(value))]
    return np.random.default_rng(entropy)


@functools.lru_cache(maxsize=256)
def _layout(citizen_seed: int, position: int) -> _Layout:
    hand, finger = _hand_and_finger(position)
    citizen = _rng(_LAYOUT_STREAM, citizen_seed)
    person_scale = citizen.uniform(0.92, 1.08)  # bigger hands: bigger fingers, wider ridges
    whorl_propensity = math.exp(citizen.normal(-0.3, 0.9))
    rng = _rng(_LAYOUT_STREAM, citizen_seed, position)

    # Fingers of one person are alike: some people have whorls on most fingers.
    probabilities = np.array(_CLASS_PROBABILITIES[finger])
    probabilities[4] *= whorl_propensity
    # Ulnar loops open towards the little finger: to the right in prints of the right hand.
    ulnar, radial = ("right_loop", "left_loop") if hand == "right" else ("left_loop", "right_loop")
    classes = ["arch", "tented_arch", ulnar, radial, "whorl"]
    pattern = str(rng.choice(classes, p=probabilities / probabilities.sum()))

    width, height = (480, 600) if finger == "thumb" else (400, 500)
    size = person_scale * (0.92 if finger == "little" else 1.0)
    period = 9.4 * person_scale * (1.05 if finger == "thumb" else 1.0) * rng.uniform(0.94, 1.06)
    period = float(np.clip(period, 8.5, 10.8))

    cx = width / 2 + rng.normal(0.0, 0.03 * width)
    cy = height * 0.44 + rng.normal(0.0, 0.03 * height)
    cores: list[tuple[float, float]] = []
    deltas: list[tuple[float, float]] = []
    if pattern in ("left_loop", "right_loop"):
        side = 1.0 if pattern == "left_loop" else -1.0  # a left loop opens to the left: delta on the right
        cores.append((cx, cy))
        deltas.append((cx + side * rng.uniform(0.16, 0.26) * width, cy + rng.uniform(0.16, 0.26) * height))
    elif pattern == "whorl":
        separation = rng.uniform(8.0, 40.0)
        angle = rng.uniform(0.0, np.pi)
        ox, oy = 0.5 * separation * math.cos(angle), 0.5 * separation * math.sin(angle)
        cores += [(cx - ox, cy - oy), (cx + ox, cy + oy)]
        for side in (-1.0, 1.0):
            offset = (side * rng.uniform(0.22, 0.30) * width, rng.uniform(0.20, 0.28) * height)
            deltas.append((cx + offset[0], cy + offset[1]))
    elif pattern == "tented_arch":
        cores.append((cx, cy))
        deltas.append((cx + rng.normal(0.0, 4.0), cy + rng.uniform(30.0, 55.0)))
    arch_apex = (cx, cy + 0.05 * height, rng.uniform(0.10, 0.18) * height, rng.uniform(0.16, 0.24) * width)

    contact_centre = (width / 2 + rng.normal(0.0, 5.0), height * 0.52 + rng.normal(0.0, 8.0))
    contact_axes = (
        0.42 * width * size * rng.uniform(0.95, 1.03),
        0.46 * height * size * rng.uniform(0.95, 1.03),
    )
    # A finger is put down with the middle of its pad, near the core, on the middle of the sensor.
    reference = cores[0] if len(cores) == 1 else (cx, cy)
    placement_centre = (
        0.6 * reference[0] + 0.4 * contact_centre[0],
        0.6 * reference[1] + 0.4 * contact_centre[1],
    )

    # Warp: strain of a few per cent (displacement rms ~ strain * wavelength / 2 pi).
    warp_rms = 0.05 * 250.0 / (2.0 * np.pi)
    return _Layout(
        pattern=pattern,
        width=width,
        height=height,
        period=period,
        theta0=float(rng.normal(0.0, 0.06)),
        cores=tuple(cores),
        deltas=tuple(deltas),
        arch_apex=arch_apex,
        contact_centre=contact_centre,
        contact_axes=contact_axes,
        contact_tilt=float(rng.normal(0.0, np.radians(6.0))),
        placement_centre=placement_centre,
        orientation_noise=_SmoothField.draw(rng, 0.10, (150.0, 400.0)),
        warp_x=_SmoothField.draw(rng, warp_rms, (180.0, 350.0)),
        warp_y=_SmoothField.draw(rng, warp_rms, (180.0, 350.0)),
        outline_noise=_SmoothField.draw(rng, 0.015, (120.0, 300.0)),
    )


def _orientation_field(layout: _Layout) -> np.ndarray:
    """Ridge orientation in radians, counter-clockwise from the x axis with y pointing up."""
    yy, xx = np.mgrid[0 : layout.height, 0 : layout.width].astype(np.float64)
    if layout.pattern == "arch":
        # Ridges are level lines of y - bump(x, y): flat at the bottom, arching over the middle.
        ax, ay, bump_height, half_width = layout.arch_apex
        spread_y = 0.3 * layout.height
        bump = bump_height * np.exp(-0.5 * ((xx - ax) / half_width) ** 2 - 0.5 * ((yy - ay) / spread_y) ** 2)
        f = yy - bump
        fy, fx = np.gradient(f)
        theta = np.arctan2(fx, fy)
    else:
        theta = np.full(xx.shape, layout.theta0)
        for x, y in layout.cores:
            theta += 0.5 * np.arctan2(-(yy - y), xx - x)
        for x, y in layout.deltas:
            theta -= 0.5 * np.arctan2(-(yy - y), xx - x)
    # Towards the fingertip the ridges follow its rounded outline (a smooth term: no new singularity).
    cx, cy = layout.contact_centre
    a, b = layout.contact_axes
    towards_tip = np.clip((cy - 0.25 * b - yy) / (0.75 * b), 0.0, 1.0) ** 1.5
    theta -= 0.6 * np.clip((xx - cx) / a, -1.0, 1.0) * towards_tip
    return theta + layout.orientation_noise(xx, yy)


def _gabor_kernel(theta: float, period: float) -> np.ndarray:
    """Even Gabor filter tuned to ridges of orientation ``theta`` (math convention) and ``period``.

    Longer along the ridge than across it, which favours continuous ridges over dots.
    """
    sigma_across, sigma_along = 0.5 * period, 0.8 * period
    r = int(math.ceil(2.2 * sigma_along))
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(np.float64)
    y = -y
    along = x * math.cos(theta) + y * math.sin(theta)
    across = -x * math.sin(theta) + y * math.cos(theta)
    g = np.exp(-0.5 * (along / sigma_along) ** 2 - 0.5 * (across / sigma_across) ** 2)
    g *= np.cos(2.0 * np.pi * across / period)
    g -= g.mean()
    return (g / np.abs(g).sum()).astype(np.float32)


def _grow_ridges(theta: np.ndarray, period: float, rng: np.random.Generator) -> np.ndarray:
    """Ridge height in [-1, 1] grown from noise by iterated oriented Gabor filtering."""
    height, width = theta.shape
    kernels = [_gabor_kernel(np.pi * b / _N_ORIENTATIONS, period) for b in range(_N_ORIENTATIONS)]
    r = kernels[0].shape[0] // 2
    position = (theta % np.pi) / np.pi * _N_ORIENTATIONS
    lower = np.floor(position).astype(np.int64) % _N_ORIENTATIONS
    upper = (lower + 1) % _N_ORIENTATIONS
    frac = (position - np.floor(position)).astype(np.float32)

    # Filter tile by tile, only with the (at most a few) orientations each tile needs.
    jobs = []
    for ty in range(0, height, _TILE):
        for tx in range(0, width, _TILE):
            tile = (slice(ty, min(ty + _TILE, height)), slice(tx, min(tx + _TILE, width)))
            lo, up, fr = lower[tile], upper[tile], frac[tile]
            y0, x0 = max(ty - r, 0), max(tx - r, 0)
            padded = (slice(y0, min(tile[0].stop + r, height)), slice(x0, min(tile[1].stop + r, width)))
            inner = (slice(ty - y0, ty - y0 + lo.shape[0]), slice(tx - x0, tx - x0 + lo.shape[1]))
            for b in np.union1d(lo, up):
                weight = np.where(lo == b, 1.0 - fr, 0.0) + np.where(up == b, fr, 0.0)
                jobs.append((kernels[b], padded, tile, inner, weight.astype(np.float32)))

    image = rng.standard_normal((height, width)).astype(np.float32)
    response = np.zeros_like(image)
    for step in range(_GROWTH_PASSES + 1):
        response[:] = 0.0
        for kernel, padded, tile, inner, weight in jobs:
            filtered = cv2.filter2D(image[padded], -1, kernel, borderType=cv2.BORDER_REFLECT)
            response[tile] += weight * filtered[inner]
        if step < _GROWTH_PASSES:
            image = np.clip(response * (2.0 / (response.std() + 1e-9)), -1.0, 1.0)
    local_rms = np.sqrt(cv2.GaussianBlur(response * response, (0, 0), period * 0.7))
    return np.tanh(1.6 * response / (local_rms + 1e-6)).astype(np.float32)


def _contact_radius(layout: _Layout) -> np.ndarray:
    """Normalised super-elliptical radius of each master pixel (1 on the edge of the fingertip)."""
    yy, xx = np.mgrid[0 : layout.height, 0 : layout.width].astype(np.float64)
    c, s = math.cos(layout.contact_tilt), math.sin(layout.contact_tilt)
    u = ((xx - layout.contact_centre[0]) * c + (yy - layout.contact_centre[1]) * s) / layout.contact_axes[0]
    v = (-(xx - layout.contact_centre[0]) * s + (yy - layout.contact_centre[1]) * c) / layout.contact_axes[1]
    exponent = 2.4
    radius = (np.abs(u) ** exponent + np.abs(v) ** exponent) ** (1.0 / exponent)
    # Real fingertips are not perfect ellipses: a gentle wobble of the outline.
    return (radius * (1.0 + layout.outline_noise(xx, yy))).astype(np.float32)


def _unit_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    noise = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigma)
    return noise / (noise.std() + 1e-9)


@functools.lru_cache(maxsize=_MASTER_CACHE_SIZE)
def master_print(citizen_seed: int, position: int) -> MasterPrint:
    """The master fingerprint of one finger of one citizen (rendered once, then cached)."""
    layout = _layout(citizen_seed, position)
    rng = _rng(_RIDGE_STREAM, citizen_seed, position)
    grown = _grow_ridges(_orientation_field(layout), layout.period, rng)

    yy, xx = np.mgrid[0 : layout.height, 0 : layout.width].astype(np.float32)
    map_x = xx + layout.warp_x(xx, yy).astype(np.float32)
    map_y = yy + layout.warp_y(xx, yy).astype(np.float32)
    ridges = cv2.remap(grown, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    ridges.flags.writeable = False
    return MasterPrint(
        pattern=layout.pattern,
        singular_points=singular_points(citizen_seed, position),
        placement_centre=layout.placement_centre,
        ridges=ridges,
        layout=layout,
        skin_state=rng.bit_generator.state,
    )


def finger_class(citizen_seed: int, position: int) -> str:
    """Pattern class of the finger: one of :data:`PATTERN_CLASSES`."""
    return _layout(citizen_seed, position).pattern


def singular_points(citizen_seed: int, position: int) -> SingularPoints:
    """Cores and deltas of the finger's master print, (x, y) in master pixels at 500 ppi."""
    layout = _layout(citizen_seed, position)
    return SingularPoints(
        cores=tuple(layout.warped(x, y) for x, y in layout.cores),
        deltas=tuple(layout.warped(x, y) for x, y in layout.deltas),
    )


@dataclass(frozen=True)
class _Placement:
    matrix: np.ndarray  # 2x3, master pixel -> impression pixel
    pressure: float


def _placement(
    citizen_seed: int,
    position: int,
    width: int,
    height: int,
    ppi: float,
    pressure: float,
    dx_mm: float,
    dy_mm: float,
    rotation_deg: float,
    attempt: int,
) -> _Placement:
    """Where the finger lands on the sensor, including the small variation of this attempt."""
    layout = _layout(citizen_seed, position)
    rng = _rng(_ATTEMPT_STREAM, citizen_seed, position, attempt)
    dx_mm += rng.normal(0.0, 0.3)
    dy_mm += rng.normal(0.0, 0.3)
    rotation_deg += rng.normal(0.0, 1.5)
    pressure *= math.exp(rng.normal(0.0, 0.04))
    scale = ppi / MASTER_PPI
    matrix = cv2.getRotationMatrix2D(layout.placement_centre, rotation_deg, scale)
    matrix[0, 2] += width / 2 - layout.placement_centre[0] + dx_mm * ppi / MM_PER_INCH
    matrix[1, 2] += height / 2 - layout.placement_centre[1] + dy_mm * ppi / MM_PER_INCH
    return _Placement(matrix=matrix, pressure=pressure)


def impression_transform(
    citizen_seed: int,
    position: int,
    *,
    width: int,
    height: int,
    ppi: float,
    dx_mm: float = 0.0,
    dy_mm: float = 0.0,
    rotation_deg: float = 0.0,
    attempt: int = 0,
) -> np.ndarray:
    """The 2x3 affine matrix taking master pixels (e.g. singular points) to impression pixels."""
    return _placement(
        citizen_seed, position, width, height, ppi, 1.0, dx_mm, dy_mm, rotation_deg, attempt
    ).matrix.copy()


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def render_impression(
    citizen_seed: int,
    position: int,
    *,
    width: int,
    height: int,
    ppi: float,
    pressure: float = 1.0,
    dryness: float = 0.0,
    noise: float = 0.0,
    blur: float = 0.0,
    contrast: float = 1.0,
    dx_mm: float = 0.0,
    dy_mm: float = 0.0,
    rotation_deg: float = 0.0,
    attempt: int = 0,
) -> np.ndarray:
    """One impression of a finger as a sensor of ``width`` x ``height`` pixels at ``ppi`` sees it.

    Returns uint8 grey levels, dark ridges on a light (~228) background.  ``pressure`` (>0, 1 is
    normal) sets the contact area and ridge width; ``dryness`` (0..1) breaks and lightens ridges;
    ``noise`` (0..~1) is sensor noise (standard deviation 30 grey levels at 1); ``blur`` is a
    Gaussian sigma in impression pixels; ``contrast`` scales the ridge/valley difference;
    ``dx_mm``/``dy_mm``/``rotation_deg`` (counter-clockwise) place the finger on the sensor, and
    ``attempt`` numbers placements of the same finger, each a little different.
    """
    if width <= 0 or height <= 0 or ppi <= 0:
        raise ValueError(f"impression size and ppi must be positive, got {width}x{height} at {ppi} ppi")
    if pressure <= 0 or not 0.0 <= dryness <= 1.0 or noise < 0 or blur < 0 or contrast < 0:
        raise ValueError(
            f"out-of-range impression parameter: pressure={pressure} (>0), dryness={dryness} (0..1), "
            f"noise={noise} (>=0), blur={blur} (>=0), contrast={contrast} (>=0)"
        )
    master = master_print(citizen_seed, position)
    placement = _placement(
        citizen_seed, position, width, height, ppi, pressure, dx_mm, dy_mm, rotation_deg, attempt
    )
    size = (width, height)

    def warp(array: np.ndarray, outside: float) -> np.ndarray:
        return cv2.warpAffine(
            array,
            placement.matrix,
            size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=outside,
        )

    ridges = warp(master.ridges, -1.0)
    radius = warp(master.contact_radius, 10.0)
    skin = warp(master.skin, 0.0)
    rng = _rng(_ATTEMPT_STREAM, citizen_seed, position, attempt, 1)
    # Skin moisture and ridge height differ a little on every placement; scale them with the ppi.
    px_per_mm = ppi / MM_PER_INCH
    skin = 0.75 * skin + 0.25 * _unit_noise(rng, (height, width), 0.05 * px_per_mm)
    ridge_height = _unit_noise(rng, (height, width), 0.12 * px_per_mm)
    # Moisture and skin oil make some patches of the finger print darker than others.
    patches = cv2.resize(
        _unit_noise(rng, (height // 16 + 2, width // 16 + 2), 1.0), size, interpolation=cv2.INTER_CUBIC
    )

    p = placement.pressure
    contact_edge = p**0.5 if p < 1.0 else min(p**0.15, 1.12)
    edge = radius / contact_edge
    contact = _smoothstep((1.0 - edge) / 0.08)
    local_pressure = p * (1.0 - 0.6 * np.minimum(edge, 1.0) ** 4)
    threshold = 0.05 - 0.45 * (local_pressure - 1.0) + 0.3 * dryness
    ink = 1.0 / (1.0 + np.exp(-(ridges + 0.2 * ridge_height - threshold) / 0.12))
    unbroken = 1.0 / (1.0 + np.exp(-(skin + 2.3 - 2.8 * dryness) / 0.25))
    darkness = (1.0 - 0.45 * dryness) * (0.8 + 0.2 * np.minimum(local_pressure, 1.0)) * (1.0 + 0.07 * patches)
    image = _BACKGROUND_GREY - contrast * (_RIDGE_DEPTH * ink * unbroken * darkness + _VALLEY_DEPTH) * contact
    image = image.astype(np.float32)
    if blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    if noise > 0:
        image += rng.standard_normal(image.shape).astype(np.float32) * (_NOISE_GREY_PER_UNIT * noise)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
