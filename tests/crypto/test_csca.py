"""The CSCA path check (crypto.csca.CscaStore): issuers by name and signature, CAs
only, validity at the time given, and every issuer of a name tried (re-certified or re-keyed CAs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crypto.csca import CscaStore, is_ca
from crypto.errors import CertificateExpired, UnknownSigner

NOW = datetime.now(UTC)
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])


def _issue(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
           issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool | None, start: datetime = NOW - timedelta(days=1),
           days: int = 30) -> x509.Certificate:
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(start)
               .not_valid_after(start + timedelta(days=days)))
    if ca is not None:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def ca_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def leaf(ca_key) -> x509.Certificate:
    return _issue(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leaf")]), ec.generate_private_key(ec.SECP256R1()),
                  CA_NAME, ca_key, ca=None)


@pytest.mark.parametrize("ca", [False, None])
def test_an_issuer_that_is_not_a_ca_is_refused(ca_key, leaf, ca):
    """RFC 5280 §4.2.1.9: only ``cA=TRUE`` may sign certificates - absent constraints are not a CA."""
    not_a_ca = _issue(CA_NAME, ca_key, CA_NAME, ca_key, ca=ca)
    assert not is_ca(not_a_ca)
    with pytest.raises(UnknownSigner, match="is not a CA"):
        CscaStore([not_a_ca]).verify(leaf, at=NOW)


def test_every_issuer_of_the_name_is_tried(ca_key, leaf):
    """A CA re-certified under the same name and key (master lists carry both): the expired copy
    listed first does not hide the valid one, and an unrelated key under that name is skipped."""
    expired = _issue(CA_NAME, ca_key, CA_NAME, ca_key, ca=True, start=NOW - timedelta(days=400), days=30)
    current = _issue(CA_NAME, ca_key, CA_NAME, ca_key, ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    impostor = _issue(CA_NAME, other_key, CA_NAME, other_key, ca=True)
    chain = CscaStore([impostor, expired, current]).verify(leaf, at=NOW)
    assert chain == [leaf, current]
    with pytest.raises(CertificateExpired, match="Test CA"):
        CscaStore([expired]).verify(leaf, at=NOW)


def test_a_refusal_says_why_for_each_issuer_tried(ca_key, leaf):
    other_key = ec.generate_private_key(ec.SECP256R1())
    impostor = _issue(CA_NAME, other_key, CA_NAME, other_key, ca=True)
    with pytest.raises(UnknownSigner, match=r"CN=leaf is not signed by CN=Test CA \(serial [0-9a-f]+\): bad signature"):
        CscaStore([impostor]).verify(leaf, at=NOW)
    stranger_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Someone else")])
    stranger = _issue(stranger_name, other_key, stranger_name, other_key, ca=True)
    with pytest.raises(UnknownSigner, match="no trusted issuer named CN=Test CA for CN=leaf"):
        CscaStore([stranger]).verify(leaf, at=NOW)
