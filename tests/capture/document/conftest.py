"""What the chip-reading tests share: a simulated CCID reader on a virtual USB bus, taken off the bus
after each test (the chip each test inserts goes with it)."""

import pytest

from hardware_sim.ccid import CcidReaderSimulator


@pytest.fixture
def sim():
    simulator = CcidReaderSimulator()
    yield simulator
    simulator.backend.detach(simulator)


@pytest.fixture
def read_chip(sim):
    """Read ``chip`` (inserted into ``sim``) as the station does, with the citizen's MRZ data as the
    access key and the run's test CSCA as trust: ``read_chip(citizen, chip, **ReadOptions)``."""
    from capture.document.reader import ReadOptions, cccd_access, read_identity_document
    from crypto.csca import CscaStore
    from drivers.smartcard import ccid
    from hardware_sim.emrtd import run_pki

    def read(citizen, chip, **options):
        sim.insert_card(chip)
        birth, expiry = citizen.birth_date.strftime("%y%m%d"), citizen.expiry_date.strftime("%y%m%d")
        with ccid.CcidReader(ccid.find(sim.backend)) as reader:
            return read_identity_document(reader, cccd_access(citizen.personal_id, birth, expiry),
                                          CscaStore([run_pki().csca_certificate]), options=ReadOptions(**options))
    return read
