"""PACE in the whole read: tried before BAC when EF.CardAccess offers it, against the simulated
chip's own PACE (ECDH generic mapping, brainpoolP256r1, AES-128); BAC when it is not offered or
is refused; Active and Chip Authentication under PACE's AES session."""

import pytest

from capture.document.bac import BacError
from capture.document.reader import ReadOptions, cccd_access, read_identity_document
from crypto.csca import CscaStore
from drivers.smartcard import ccid
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip, aa_key, build_files, ca_key, card_access, run_pki


@pytest.fixture(scope="module")
def citizen():
    return make_citizen(77)


def read(sim, citizen, chip, *, birth=None, **options):
    sim.insert_card(chip)
    birth = birth or citizen.birth_date.strftime("%y%m%d")
    with ccid.CcidReader(ccid.find(sim.backend)) as reader:
        return read_identity_document(reader, cccd_access(citizen.personal_id, birth,
                                                          citizen.expiry_date.strftime("%y%m%d")),
                                      CscaStore([run_pki().csca_certificate]), options=ReadOptions(**options))


def pace_chip(citizen, **keys):
    files = build_files(citizen, aa_key=keys.get("aa_key"),
                        ca_public_key=keys["ca_key"].public_key() if "ca_key" in keys else None)
    return EmrtdChip(citizen, files=files | {"CardAccess": card_access()}, **keys)


@pytest.mark.parametrize("options", [{}, {"extended": True}, {"chunk_size": 0xFF}])
def test_pace_is_used_when_ef_cardaccess_offers_it(sim, citizen, options):
    document = read(sim, citizen, pace_chip(citizen), **options)
    assert document.verified, [s for s in document.verification if not s.passed]
    first = document.verification[0]
    assert first.name == "PACE" and "brainpoolP256r1" in first.detail and "AES-128" in first.detail
    assert "CardAccess" not in document.data_groups


def test_pace_with_active_and_chip_authentication(sim, citizen):
    document = read(sim, citizen, pace_chip(citizen, aa_key=aa_key("ecdsa"), ca_key=ca_key()))
    names = {s.name: s.passed for s in document.verification}
    assert document.verified and names["PACE"] and names["Active Authentication"] and names["Chip Authentication"]


def test_bac_when_pace_is_not_wanted_or_not_offered(sim, citizen):
    document = read(sim, citizen, pace_chip(citizen), pace=False)
    assert document.verified and document.verification[0].name == "BAC"
    document = read(sim, citizen, EmrtdChip(citizen))
    assert document.verified and document.verification[0].name == "BAC"


def test_wrong_details_are_refused_by_pace_then_bac(sim, citizen):
    with pytest.raises(BacError):
        read(sim, citizen, pace_chip(citizen), birth="010101")


def test_pace_with_the_card_access_number(sim, citizen):
    chip = pace_chip(citizen)
    chip.can = "123456"
    sim.insert_card(chip)
    with ccid.CcidReader(ccid.find(sim.backend)) as reader:
        document = read_identity_document(reader, cccd_access(citizen.personal_id, "010101", "010101"),
                                          CscaStore([run_pki().csca_certificate]), can="123456")
    assert document.verification[0].name == "PACE" and "CAN 123456" in document.verification[0].detail
    steps = {s.name: s for s in document.verification}
    assert steps["SOD signature"].passed and steps["DG1 hash"].passed


def test_a_wrong_can_falls_back_to_the_mrz(sim, citizen):
    chip = pace_chip(citizen)
    chip.can = "123456"
    sim.insert_card(chip)
    birth, expiry = citizen.birth_date.strftime("%y%m%d"), citizen.expiry_date.strftime("%y%m%d")
    with ccid.CcidReader(ccid.find(sim.backend)) as reader:
        document = read_identity_document(reader, cccd_access(citizen.personal_id, birth, expiry),
                                          CscaStore([run_pki().csca_certificate]), can="654321")
    first = document.verification[0]
    assert document.verified and first.name == "PACE" and "refused first: CAN 654321" in first.detail
