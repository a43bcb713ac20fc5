"""Key store: encrypted PKCS#8 files, systemd credentials, a real SoftHSM2 token, CSR and certificate install."""

from __future__ import annotations

import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from crypto.errors import CertificateMismatch, KeyStoreError
from crypto.keys import (
    FileSigner,
    Pkcs11Signer,
    generate_pkcs11_key,
    generate_station_key,
    load_certificate,
    load_private_key,
    open_session,
    read_secret,
    write_encrypted_key,
)
from crypto.pki import StationSubject, check_issued_certificate, issue_certificate, issue_station_certificate, make_csr
from crypto.seal import open_sealed, seal
from crypto.trust import PACKET_SIGNING, TrustStore

SUBJECT = StationSubject("NA-HUNGDUNG-01", "40", "412")


def test_encrypted_pkcs8_round_trip_and_mode(tmp_path):
    key = generate_station_key()
    path = tmp_path / "station.key"
    write_encrypted_key(path, key, b"correct horse")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in path.read_bytes()
    assert load_private_key(path, b"correct horse").private_numbers() == key.private_numbers()
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        load_private_key(path, b"battery staple")
    with pytest.raises(KeyStoreError, match="empty passphrase"):
        write_encrypted_key(tmp_path / "x.key", key, b"")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_openssl_reads_the_key_file(tmp_path):
    path = tmp_path / "station.key"
    write_encrypted_key(path, generate_station_key(), b"s3cret")
    result = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", "pass:s3cret", "-noout"],
                            capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_passphrase_from_file_and_systemd_credential(tmp_path, monkeypatch):
    (tmp_path / "pass").write_bytes(b"from-file\n")
    assert read_secret(file=tmp_path / "pass") == b"from-file"
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "station-key").write_bytes(b"from-systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    assert read_secret(credential="station-key") == b"from-systemd"
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(KeyStoreError, match="CREDENTIALS_DIRECTORY"):
        read_secret(credential="station-key")
    with pytest.raises(KeyStoreError, match="cannot read"):
        read_secret(file=tmp_path / "absent")


def test_csr_has_the_station_subject_and_a_valid_signature():
    key = generate_station_key()
    request = x509.load_pem_x509_csr(make_csr(SUBJECT, key))
    assert request.is_signature_valid
    attributes = {a.oid: a.value for a in request.subject}
    assert attributes[x509.NameOID.COMMON_NAME] == "NA-HUNGDUNG-01"
    assert attributes[x509.NameOID.STATE_OR_PROVINCE_NAME] == "40"
    assert attributes[x509.NameOID.LOCALITY_NAME] == "412"


def test_install_checks_key_and_chain(ec_pki, rsa_pki):
    key = generate_station_key()
    issued = issue_station_certificate(make_csr(SUBJECT, key), load_certificate(ec_pki.station_ca),
                                       ec_pki.ca_key(ec_pki.station_ca_key))
    trust = TrustStore([load_certificate(ec_pki.station_ca)])
    check_issued_certificate(issued, key.public_key(), trust, station_id=SUBJECT.station_id)
    with pytest.raises(CertificateMismatch, match="another key"):
        check_issued_certificate(issued, generate_station_key().public_key(), trust, station_id=SUBJECT.station_id)
    with pytest.raises(CertificateMismatch, match="station CA"):
        check_issued_certificate(issued, key.public_key(), TrustStore([load_certificate(rsa_pki.station_ca)]),
                                 station_id=SUBJECT.station_id)
    with pytest.raises(CertificateMismatch):
        FileSigner(generate_station_key(), issued)


def test_install_refuses_another_stations_name_or_a_certificate_that_cannot_sign_packets(ec_pki):
    """Both would be accepted today and refused later, packet after packet, at the registry."""
    key = generate_station_key()
    ca, ca_key = load_certificate(ec_pki.station_ca), ec_pki.ca_key(ec_pki.station_ca_key)
    trust = TrustStore([ca])
    issued = issue_station_certificate(make_csr(SUBJECT, key), ca, ca_key)
    with pytest.raises(CertificateMismatch, match=r"names NA-HUNGDUNG-01 .* not this station \(NA-OTHER-02\)"):
        check_issued_certificate(issued, key.public_key(), trust, station_id="NA-OTHER-02")
    for extended, missing in [((ExtendedKeyUsageOID.CLIENT_AUTH,), "packet_signing"),
                              ((PACKET_SIGNING,), "tls_client")]:
        narrow = issue_certificate(SUBJECT.name(), key.public_key(), ca, ca_key,
                                   usages=frozenset({"digital_signature"}), extended=extended)
        with pytest.raises(CertificateMismatch, match=missing):
            check_issued_certificate(narrow, key.public_key(), trust, station_id=SUBJECT.station_id)


def test_pkcs11_key_on_softhsm_signs_packets_that_open(softhsm_token, ec_pki, helpers):
    public_key = generate_pkcs11_key(softhsm_token, "station", "station-key", b"1234")
    without_certificate = Pkcs11Signer(softhsm_token, "station", "station-key", b"1234")
    csr = make_csr(SUBJECT, without_certificate)
    assert x509.load_pem_x509_csr(csr).is_signature_valid
    with pytest.raises(KeyStoreError, match="no certificate"):
        _ = without_certificate.certificate
    certificate = issue_station_certificate(csr, load_certificate(ec_pki.station_ca),
                                            ec_pki.ca_key(ec_pki.station_ca_key))
    check_issued_certificate(certificate, public_key, helpers.trust(ec_pki), station_id=SUBJECT.station_id)
    signer = Pkcs11Signer(softhsm_token, "station", "station-key", b"1234", certificate)
    sealed = seal(b"sealed on a token", signer, helpers.registry(ec_pki))
    opened = open_sealed(sealed, helpers.recipient(ec_pki), helpers.trust(ec_pki))
    assert opened.content == b"sealed on a token" and opened.signer == certificate
    signer.close()
    without_certificate.close()


def test_pkcs11_private_key_never_leaves_the_token(softhsm_token):
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass

    generate_pkcs11_key(softhsm_token, "station", "sealed-key", b"1234")
    with open_session(pkcs11.lib(softhsm_token).get_token(token_label="station"), b"1234") as session:
        private = session.get_key(ObjectClass.PRIVATE_KEY, KeyType.EC, label="sealed-key")
        assert private[Attribute.SENSITIVE] and not private[Attribute.EXTRACTABLE]
        with pytest.raises(pkcs11.PKCS11Error):
            _ = private[Attribute.VALUE]


def test_pkcs11_wrong_pin_or_label_is_a_key_store_error(softhsm_token):
    with pytest.raises(KeyStoreError):
        Pkcs11Signer(softhsm_token, "station", "station-key", b"0000")
    with pytest.raises(KeyStoreError):
        Pkcs11Signer(softhsm_token, "station", "no-such-key", b"1234")
