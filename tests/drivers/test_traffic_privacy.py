"""Device traffic in the log never carries the citizen's data: no fingerprint image, no chip file.

Every driver is run through a real capture or card read with its traffic logger at DEBUG, and no
log line may hold more than ``MAX_LOGGED_BYTES`` bytes of a message (headers and status words).
"""

from __future__ import annotations

import logging
import re

import pytest

from capture.document.reader import cccd_access, read_identity_document
from crypto.csca import CscaStore
from drivers.fingerprint.models import create_scanner
from drivers.smartcard.models import create_reader
from drivers.traffic import MAX_LOGGED_BYTES, summary
from hardware_sim.ccid import CcidReaderSimulator
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip, run_pki
from hardware_sim.fingerprints import render_impression
from hardware_sim.simulated_station import SimulatedStation

_HEX_RUN = re.compile(r"(?:[0-9a-f]{2} ?){2,}")


class _Traffic(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The product's drivers only: simulators hold synthetic citizens and log all they send.
        if record.name.startswith("drivers.") and record.name.endswith(".traffic"):
            self.lines.append(record.getMessage())


@pytest.fixture
def traffic():
    handler = _Traffic()
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


def _assert_nothing_personal(lines: list[str]) -> None:
    assert lines, "the driver logged no traffic at all"
    for line in lines:
        logged = sum(len(run.replace(" ", "")) // 2 for run in _HEX_RUN.findall(line))
        assert logged <= MAX_LOGGED_BYTES + 2, line


def test_nb1010_image_reads_are_logged_as_headers(traffic):
    with SimulatedStation() as station:
        station.present_finger(5, 2, "nb1010")
        with create_scanner("nb1010", {}, usb_backend=station.usb_backend) as scanner:
            scanner.wait_for_finger(5)
            scanner.capture()
    assert any("not logged" in line for line in traffic.lines)
    _assert_nothing_personal(traffic.lines)


def test_r30x_image_packets_are_logged_as_headers(traffic):
    with SimulatedStation() as station:
        station.r30x.place_finger(render_impression(5, 2, width=256, height=288, ppi=500))
        with create_scanner("r30x", {"port": station.r30x.port}) as scanner:
            scanner.capture()
    assert sum("not logged" in line for line in traffic.lines) >= 200  # one per data packet
    _assert_nothing_personal(traffic.lines)


def test_chip_files_are_not_in_the_card_reader_traffic(traffic):
    citizen = make_citizen(3)
    simulator = CcidReaderSimulator()
    simulator.insert_card(EmrtdChip(citizen))
    try:
        with create_reader("ccid", {}, usb_backend=simulator.backend) as reader:
            reader.wait_for_card(5)
            access = cccd_access(citizen.personal_id, f"{citizen.birth_date:%y%m%d}",
                                 f"{citizen.expiry_date:%y%m%d}")
            document = read_identity_document(reader, access, CscaStore([run_pki().csca_certificate]))
    finally:
        simulator.backend.detach(simulator)
    assert document.verified
    _assert_nothing_personal(traffic.lines)


def test_summary_keeps_head_and_tail_and_refuses_to_log_more():
    data = bytes(range(40))
    assert summary(data, head=2, tail=2) == "00 01 ..(36 bytes not logged).. 26 27"
    assert summary(data[:3], head=2, tail=2) == "00 01 02"
    with pytest.raises(ValueError):
        summary(data, head=40)
