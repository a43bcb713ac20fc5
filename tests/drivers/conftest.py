"""Fixtures shared by the driver tests: simulated devices at the other end of a real wire."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from hardware_sim.r30x import R30xSimulator


def synthetic_ridges(height: int = 288, width: int = 256, period: float = 9.0, seed: int = 0) -> np.ndarray:
    """A fingerprint-like pattern (dark ridges on light, curving) from sine waves; uint8."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi)
    bend = 12 * np.sin(y / 47.0 + phase) + 0.0008 * (x - width / 2) ** 2
    ridges = np.sin(2 * np.pi * (x + bend) / period)
    noise = rng.normal(0, 8, size=(height, width))
    return np.clip(150 + 90 * ridges + noise, 0, 255).astype(np.uint8)


@pytest.fixture
def ridge_image() -> np.ndarray:
    return synthetic_ridges()


@pytest.fixture
def r30x_sim() -> Iterator[Callable[..., R30xSimulator]]:
    """Factory of started R30x simulators (keyword arguments as R30xSimulator's); all stopped after."""
    started: list[R30xSimulator] = []

    def make(**options: object) -> R30xSimulator:
        sim = R30xSimulator(**options).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
