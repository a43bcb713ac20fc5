"""What the chip-reading tests share: a simulated CCID reader on a virtual USB bus, taken off the bus
after each test (the chip each test inserts goes with it)."""

import pytest

from hardware_sim.ccid import CcidReaderSimulator


@pytest.fixture
def sim():
    simulator = CcidReaderSimulator()
    yield simulator
    simulator.backend.detach(simulator)
