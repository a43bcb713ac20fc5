"""Chip Authentication (ICAO 9303-11 6.2, ECDH with 3DES secure messaging) against the simulated
chip: the genuine chip restarts secure messaging with DG14's key; a clone - genuine, signed DG14
on a chip with another key, or none - fails the step."""

import pytest
from asn1crypto import core
from cryptography.hazmat.primitives.asymmetric import ec

from capture.document.chip_auth import STEP, Dg14Error, parse_dg14
from capture.document.tlv import read_single
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import EmrtdChip, aa_key, build_files, ca_key, dg14, tlv


@pytest.fixture(scope="module")
def citizen():
    return make_citizen(66)


def steps(document):
    return {s.name: s for s in document.verification}


def test_the_genuine_chip_passes(read_chip, citizen):
    files = build_files(citizen, ca_public_key=ca_key().public_key())
    document = read_chip(citizen, EmrtdChip(citizen, files=files, ca_key=ca_key()))
    assert document.verified, [s for s in document.verification if not s.passed]
    assert steps(document)[STEP].passed and "ECDH secp256r1" in steps(document)[STEP].detail
    assert steps(document)["DG14 hash"].passed


def test_with_active_authentication_too(read_chip, citizen):
    files = build_files(citizen, ca_public_key=ca_key().public_key(), aa_key=aa_key("ecdsa"))
    document = read_chip(citizen, EmrtdChip(citizen, files=files, ca_key=ca_key(), aa_key=aa_key("ecdsa")))
    assert document.verified and steps(document)[STEP].passed and steps(document)["Active Authentication"].passed


def test_a_clone_fails_chip_authentication_but_passes_passive(read_chip, citizen):
    files = build_files(citizen, ca_public_key=ca_key().public_key())
    document = read_chip(citizen, EmrtdChip(citizen, files=files, ca_key=ec.generate_private_key(ec.SECP256R1())))
    found = steps(document)
    assert found["SOD signature"].passed and found["DG14 hash"].passed
    assert found[STEP].passed is False and "does not hold DG14's private key" in found[STEP].detail
    assert not document.verified


def test_a_clone_without_chip_authentication_fails(read_chip, citizen):
    files = build_files(citizen, ca_public_key=ca_key().public_key())
    document = read_chip(citizen, EmrtdChip(citizen, files=files))
    assert steps(document)[STEP].passed is False and "6D00" in steps(document)[STEP].detail


def test_dg14_parsing():
    offer = parse_dg14(dg14(ca_key().public_key()))
    assert offer.protocol == "0.4.0.127.0.7.2.2.3.2.1" and offer.key_id is None
    with pytest.raises(Dg14Error):
        parse_dg14(tlv(0x6E, b"\x31\x00"))
    with pytest.raises(Dg14Error):
        parse_dg14(b"\x6e\x03\x31\x01")
    three_des, aes = (core.ObjectIdentifier(f"0.4.0.127.0.7.2.2.3.2.{n}").dump() for n in (1, 2))
    swapped = read_single(dg14(ca_key().public_key()), 0x6E).replace(three_des, aes)  # the AES variant
    with pytest.raises(Dg14Error, match="runs only"):
        parse_dg14(tlv(0x6E, swapped))
