"""The registry PKI's path check (crypto.trust): uses kept apart, issuers that are CAs within their
path length, validity at the time given, CRLs checked when loaded and applied, stale CRLs by policy."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto.errors import CertificateExpired, CertificateRevoked, StaleCrl, UnknownSigner
from crypto.keys import generate_station_key, load_certificate
from crypto.pki import issue_certificate
from crypto.trust import PACKET_SIGNING, RECEIPT_SIGNING, CrlError, TrustStore, Usage

NOW = datetime.now(UTC)
STATION = (PACKET_SIGNING, ExtendedKeyUsageOID.CLIENT_AUTH)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="module")
def ca(ec_pki):
    return load_certificate(ec_pki.station_ca), ec_pki.ca_key(ec_pki.station_ca_key)


@pytest.fixture(scope="module")
def root(ec_pki):
    return load_certificate(ec_pki.root)


def _station(ca, *, extended=STATION, usages=frozenset({"digital_signature"}), **kwargs):
    certificate, key = ca
    return issue_certificate(_name("NA-TEST-01"), generate_station_key().public_key(), certificate, key,
                             usages=usages, extended=extended, **kwargs)


def test_a_station_certificate_signs_packets_and_connects_but_signs_no_receipt(ec_pki, ca, root):
    station = load_certificate(ec_pki.station_certificate)
    store = TrustStore([root], intermediates=[ca[0]])
    for usage in (Usage.PACKET_SIGNING, Usage.TLS_CLIENT):
        assert store.verify(station, at=NOW, usage=usage)[-1] == root
    with pytest.raises(UnknownSigner, match="receipt_signing"):
        store.verify(station, at=NOW, usage=Usage.RECEIPT_SIGNING)


def test_the_receipt_and_tls_server_certificates_sign_no_packet(ec_pki, root):
    store = TrustStore([root])
    receipt = load_certificate(ec_pki.receipt_certificate)
    assert store.verify(receipt, at=NOW, usage=Usage.RECEIPT_SIGNING)
    for certificate in (receipt, load_certificate(ec_pki.tls_certificate)):
        for usage in (Usage.PACKET_SIGNING, Usage.TLS_CLIENT):
            with pytest.raises(UnknownSigner, match=usage.name.lower()):
                store.verify(certificate, at=NOW, usage=usage)


def test_key_usage_must_allow_signatures(ca):
    encipher_only = _station(ca, usages=frozenset({"key_encipherment"}))
    with pytest.raises(UnknownSigner, match="digitalSignature"):
        TrustStore([ca[0]]).verify(encipher_only, at=NOW, usage=Usage.PACKET_SIGNING)


def test_a_ca_certificate_is_no_signer_of_packets(ca, root):
    with pytest.raises(UnknownSigner):
        TrustStore([root]).verify(ca[0], at=NOW, usage=Usage.PACKET_SIGNING)


def test_the_station_ca_cannot_delegate_path_length_zero(ca):
    """The station CA says pathLenConstraint 0: a CA it issues cannot issue stations."""
    assert ca[0].extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub = issue_certificate(_name("Sub CA"), sub_key.public_key(), ca[0], ca[1], ca=True,
                            usages=frozenset({"key_cert_sign", "crl_sign"}))
    station = _station((sub, sub_key))
    with pytest.raises(UnknownSigner):
        TrustStore([ca[0]]).verify(station, at=NOW, usage=Usage.PACKET_SIGNING, intermediates=[sub])


def test_an_issuer_without_cert_sign_is_refused(ca):
    """cA=TRUE but keyUsage without keyCertSign: not an issuer (RFC 5280 §4.2.1.3)."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = issue_certificate(_name("Root"), root_key.public_key(), None, root_key, ca=True,
                             usages=frozenset({"key_cert_sign", "crl_sign"}))
    lame_key = ec.generate_private_key(ec.SECP256R1())
    lame = issue_certificate(_name("Lame CA"), lame_key.public_key(), root, root_key, ca=True,
                             usages=frozenset({"crl_sign"}))
    with pytest.raises(UnknownSigner):
        TrustStore([root]).verify(_station((lame, lame_key)), at=NOW, usage=Usage.PACKET_SIGNING,
                                  intermediates=[lame])


@pytest.mark.parametrize("at", [NOW - timedelta(days=2), NOW + timedelta(days=900)])
def test_validity_at_the_time_given(ca, at):
    station = _station(ca, not_before=NOW - timedelta(days=1), days=30)
    with pytest.raises(CertificateExpired, match="NA-TEST-01"):
        TrustStore([ca[0]]).verify(station, at=at, usage=Usage.PACKET_SIGNING)


def _crl(issuer, key, revoked=(), *, next_update=None):
    next_update = next_update or NOW + timedelta(days=7)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
               .last_update(min(NOW, next_update) - timedelta(days=1)).next_update(next_update))
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - timedelta(minutes=5)).build())
    return builder.sign(key, hashes.SHA256())


def test_a_revoked_station_is_refused_and_the_others_pass(ca):
    revoked, kept = _station(ca), _station(ca)
    store = TrustStore([ca[0]], crls=[_crl(*ca, revoked=[revoked.serial_number])])
    assert store.verify(kept, at=NOW, usage=Usage.TLS_CLIENT)
    with pytest.raises(CertificateRevoked):
        store.verify(revoked, at=NOW, usage=Usage.TLS_CLIENT)


def test_a_crl_not_signed_by_its_ca_is_refused_not_skipped(ca):
    forged = _crl(ca[0], ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CrlError, match="not signed"):
        TrustStore([ca[0]], crls=[forged])
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = issue_certificate(_name("Stranger CA"), stranger_key.public_key(), None, stranger_key, ca=True,
                                 usages=frozenset({"key_cert_sign", "crl_sign"}))
    with pytest.raises(CrlError, match="names no CA"):
        TrustStore([ca[0]], crls=[_crl(stranger, stranger_key)])


def test_a_stale_crl_warns_or_refuses_as_configured(ca, caplog):
    station = _station(ca)
    stale = _crl(*ca, next_update=NOW - timedelta(hours=2))
    with caplog.at_level(logging.WARNING, logger="crypto.trust"):
        assert TrustStore([ca[0]], crls=[stale]).verify(station, at=NOW, usage=Usage.PACKET_SIGNING)
    assert "due for renewal" in caplog.text
    with pytest.raises(StaleCrl, match="due for renewal"):
        TrustStore([ca[0]], crls=[stale], stale_crl="refuse").verify(station, at=NOW, usage=Usage.PACKET_SIGNING)
    revoked = _station(ca)
    with pytest.raises(CertificateRevoked):  # a stale CRL still revokes
        TrustStore([ca[0]], crls=[_crl(*ca, revoked=[revoked.serial_number], next_update=NOW - timedelta(hours=1))]
                   ).verify(revoked, at=NOW, usage=Usage.PACKET_SIGNING)
    with pytest.raises(ValueError, match="stale_crl"):
        TrustStore([ca[0]], stale_crl="ignore")


def test_the_two_signing_usages_are_distinct_oids():
    assert PACKET_SIGNING != RECEIPT_SIGNING and PACKET_SIGNING.dotted_string.startswith("2.25.")


def test_every_crl_is_consulted_and_a_fresh_one_is_not_stale(ca, root, ec_pki):
    """Another CA's CRL listed first does not hide the station CA's; a fresh CRL passes 'refuse'."""
    root_key = ec_pki.ca_key(ec_pki.path("root.key"))
    revoked = _station(ca)
    store = TrustStore([root, ca[0]], crls=[_crl(root, root_key), _crl(*ca, revoked=[revoked.serial_number])],
                       stale_crl="refuse")
    with pytest.raises(CertificateRevoked, match="NA-TEST-01 is revoked"):
        store.verify(revoked, at=NOW, usage=Usage.PACKET_SIGNING)
    assert store.verify(_station(ca), at=NOW, usage=Usage.PACKET_SIGNING)


def test_an_expired_issuer_is_named_as_expired(ec_pki, root):
    """Validation fails on the station CA's validity, not the station's: the error names the CA."""
    root_key = ec_pki.ca_key(ec_pki.path("root.key"))
    old_key = ec.generate_private_key(ec.SECP256R1())
    old_ca = issue_certificate(_name("Old station CA"), old_key.public_key(), root, root_key, ca=True,
                               usages=frozenset({"key_cert_sign", "crl_sign"}),
                               not_before=NOW - timedelta(days=40), days=30)
    station = _station((old_ca, old_key), not_before=NOW - timedelta(days=35), days=400)
    with pytest.raises(CertificateExpired, match="Old station CA valid"):
        TrustStore([root]).verify(station, at=NOW, usage=Usage.PACKET_SIGNING, intermediates=[old_ca])
    with pytest.raises(UnknownSigner):  # no path at all: not an expiry
        TrustStore([root]).verify(station, at=NOW, usage=Usage.PACKET_SIGNING)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = _station((old_ca, old_key), not_before=NOW - timedelta(days=35), days=400)
    unrelated = issue_certificate(_name("Unrelated CA"), stranger_key.public_key(), root, root_key, ca=True,
                                  usages=frozenset({"key_cert_sign", "crl_sign"}),
                                  not_before=NOW - timedelta(days=40), days=30)
    with pytest.raises(UnknownSigner):  # an expired CA that did not issue it is not its expiry
        TrustStore([root]).verify(stranger, at=NOW, usage=Usage.PACKET_SIGNING, intermediates=[unrelated])
