"""Active Authentication (ICAO 9303-11 6.1) against the simulated chip: RSA (ISO/IEC 9796-2) and
ECDSA; a clone - genuine, signed data on a chip without the genuine key - fails the step."""

import hashlib
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from capture.document.active_auth import STEP, parse_dg15, verify_rsa
from hardware_sim.citizens import make_citizen
from hardware_sim.emrtd import VICC_LIKE, EmrtdChip, aa_key, aa_sign, build_files, tlv


@pytest.fixture(scope="module")
def citizen():
    return make_citizen(55)


def step(document):
    return next(s for s in document.verification if s.name == STEP)


@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_the_genuine_chip_passes(read_chip, citizen, algorithm):
    key = aa_key(algorithm)
    document = read_chip(citizen, EmrtdChip(citizen, files=build_files(citizen, aa_key=key), aa_key=key))
    assert document.verified, [s for s in document.verification if not s.passed]
    assert step(document).passed and ("9796-2" in step(document).detail) == (algorithm == "rsa")
    assert "DG15" in document.data_groups_present and "DG15" in document.data_groups


@pytest.mark.parametrize("algorithm", ["rsa", "ecdsa"])
def test_a_clone_fails_active_authentication_but_passes_passive(read_chip, citizen, algorithm):
    genuine = build_files(citizen, aa_key=aa_key(algorithm))
    own = rsa.generate_private_key(65537, 1024) if algorithm == "rsa" else ec.generate_private_key(ec.SECP256R1())
    document = read_chip(citizen, EmrtdChip(citizen, files=genuine, aa_key=own))
    steps = {s.name: s for s in document.verification}
    assert steps["SOD signature"].passed and steps["DG15 hash"].passed
    assert steps[STEP].passed is False and "copy" in steps[STEP].detail
    assert not document.verified


def test_a_clone_that_cannot_sign_fails(read_chip, citizen):
    document = read_chip(citizen, EmrtdChip(citizen, files=build_files(citizen, aa_key=aa_key("rsa"))))
    assert step(document).passed is False and "INTERNAL AUTHENTICATE answered 6D00" in step(document).detail


def test_active_authentication_on_a_chip_that_behaves_like_vicc(read_chip, citizen):
    key = aa_key("rsa")
    document = read_chip(citizen, EmrtdChip(citizen, files=build_files(citizen, aa_key=key), aa_key=key,
                                            quirks=VICC_LIKE))
    assert document.verified and step(document).passed


def test_no_dg15_no_step(read_chip, citizen):
    document = read_chip(citizen, EmrtdChip(citizen))
    assert document.verified and STEP not in {s.name for s in document.verification}


def test_9796_2_with_a_sha256_trailer_and_refusals():
    key = rsa.generate_private_key(65537, 1024)
    numbers, size, challenge = key.private_numbers(), 128, os.urandom(8)
    m1 = os.urandom(size - 32 - 3)
    f = b"\x6a" + m1 + hashlib.sha256(m1 + challenge).digest() + b"\x34\xcc"
    signature = pow(int.from_bytes(f, "big"), numbers.d, numbers.public_numbers.n).to_bytes(size, "big")
    assert verify_rsa(key.public_key(), challenge, signature) == "sha256"
    with pytest.raises(ValueError, match="hash"):
        verify_rsa(key.public_key(), os.urandom(8), signature)
    with pytest.raises(ValueError, match="trailer"):
        verify_rsa(key.public_key(), challenge, pow(int.from_bytes(f[:-1] + b"\x00", "big"), numbers.d,
                                                    numbers.public_numbers.n).to_bytes(size, "big"))
    with pytest.raises(ValueError):
        verify_rsa(key.public_key(), challenge, signature[1:])
    assert verify_rsa(key.public_key(), challenge, aa_sign(key, challenge)) == "sha1"


def test_a_malformed_dg15_is_refused():
    with pytest.raises(ValueError):
        parse_dg15(tlv(0x6F, b"\x30\x03\x02\x01\x00"))
    with pytest.raises(ValueError):
        parse_dg15(b"\x6f\x05\x30")
