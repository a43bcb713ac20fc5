"""The station identity from [keys]: a PKCS#11 signing key uploads with a separate TLS key."""

import uuid
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from crypto.errors import KeyStoreError
from crypto.keys import Pkcs11Signer, generate_pkcs11_key, load_certificate
from crypto.pki import StationSubject, create_dev_pki, issue_station_certificate, make_csr
from station.config import KeysConfig, simulated_station
from station.identity import load_identity


@pytest.fixture
def token_station(tmp_path, softhsm_token):
    """Keys as a production station with its signing key on a token would configure them."""
    pki = create_dev_pki(tmp_path / "pki", StationSubject("NA-01", "40", "412"))
    label = f"identity-{uuid.uuid4().hex[:8]}"  # the token is shared by the whole test session
    generate_pkcs11_key(softhsm_token, "station", label, b"1234")
    signer = Pkcs11Signer(softhsm_token, "station", label, b"1234")
    try:
        csr = make_csr(StationSubject("NA-01", "40", "412"), signer)
    finally:
        signer.close()
    certificate = issue_station_certificate(csr, load_certificate(pki.station_ca), pki.ca_key(pki.station_ca_key))
    (tmp_path / "station.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
    (tmp_path / "pin").write_text("1234\n")
    keys = KeysConfig(
        certificate=tmp_path / "station.pem", pkcs11_module=softhsm_token, pkcs11_token="station",
        pkcs11_label=label, pin_file=tmp_path / "pin", station_ca=pki.station_ca,
        registry_certificate=pki.registry_certificate, receipt_certificate=pki.receipt_certificate, tls_ca=pki.root,
    )
    return replace(simulated_station(), data_dir=tmp_path, keys=keys), pki


def test_token_key_signs_but_tls_needs_a_separate_key(token_station):
    config, _ = token_station
    identity = load_identity(config)
    try:
        assert isinstance(identity.signer, Pkcs11Signer)
        with pytest.raises(KeyStoreError, match="tls_key_file"):
            identity.ssl_context()
    finally:
        identity.signer.close()  # a logged-in session would log every later session of the token in


def test_token_key_with_a_transport_key_uploads(token_station, tmp_path):
    config, pki = token_station
    keys = replace(config.keys, tls_certificate=pki.station_certificate, tls_key_file=pki.station_key,
                   passphrase_file=pki.station_passphrase)
    identity = load_identity(replace(config, keys=keys))
    try:
        assert isinstance(identity.signer, Pkcs11Signer)
        assert identity.ssl_context() is not None  # the encrypted transport key loaded with its passphrase
    finally:
        identity.signer.close()


def test_transport_key_without_its_certificate_is_refused(token_station):
    config, pki = token_station
    keys = replace(config.keys, tls_key_file=pki.station_key, passphrase_file=pki.station_passphrase)
    with pytest.raises(KeyStoreError, match="tls_certificate"):
        load_identity(replace(config, keys=keys))


def test_a_real_station_without_keys_is_refused_not_given_a_development_pki(tmp_path):
    """Only the simulated station makes a development PKI: on a real one it would write the registry's
    unencrypted decryption key beside the packets sealed for it."""
    real = replace(simulated_station(), simulated=False, data_dir=tmp_path)
    with pytest.raises(KeyStoreError, match=r"\[keys\] is empty, and this is a real station") as refused:
        load_identity(real)
    assert "registry_certificate" in str(refused.value) and "simulated = true" in str(refused.value)
    assert not any(tmp_path.iterdir()), "nothing may be written on the way"
    assert load_identity(replace(real, simulated=True)).development  # the simulated station still gets one
