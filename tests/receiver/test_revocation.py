"""Revocation at the receiver, over real TLS: a revoked station can neither connect nor have its
packets accepted through another station's connection; a new CRL applies without a restart; a CRL
whose signature fails is refused (at start: no start; later: the previous CRL stays)."""

from __future__ import annotations

import dataclasses
import logging
import os
import ssl
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from crypto.keys import FileSigner, generate_station_key, load_certificate
from crypto.pki import StationSubject, create_dev_pki, issue_station_certificate, make_csr
from crypto.seal import seal
from crypto.trust import CrlError
from packet.build import build_packet
from receiver.revocation import StationTrust, TlsFiles

SUBJECT = StationSubject("NA-HUNGDUNG-01", "40", "412")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("pki"), SUBJECT)


@pytest.fixture(scope="module")
def second_station(pki, tmp_path_factory):
    """Another station of the same CA: its certificate and key files, and a signer."""
    folder = tmp_path_factory.mktemp("second")
    key = generate_station_key()
    certificate = issue_station_certificate(make_csr(StationSubject("NA-SECOND-02", "40", "412"), key),
                                            load_certificate(pki.station_ca), pki.ca_key(pki.station_ca_key))
    (folder / "station.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "station.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return folder, FileSigner(key, certificate)


def _crl(pki, revoked=(), *, key=None, stale=False) -> bytes:
    now = datetime.now(UTC)
    last, due = (now - timedelta(days=9), now - timedelta(days=2)) if stale else (now - timedelta(minutes=1),
                                                                               now + timedelta(days=7))
    builder = (x509.CertificateRevocationListBuilder().issuer_name(load_certificate(pki.station_ca).subject)
               .last_update(last).next_update(due))
    for certificate in revoked:
        builder = builder.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(
            certificate.serial_number).revocation_date(now - timedelta(minutes=1)).build())
    return builder.sign(key or pki.ca_key(pki.station_ca_key), hashes.SHA256()).public_bytes(
        serialization.Encoding.PEM)


def _write(path, data: bytes) -> None:
    path.write_bytes(data)
    stamp = path.stat().st_mtime_ns + 1_000_000_000  # a new file: its time moves on even within a second
    os.utime(path, ns=(stamp, stamp))


def _client(pki, certificate, key, password=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.root))
    context.load_cert_chain(str(certificate), str(key), password=password)
    return context


def _first_station(pki) -> ssl.SSLContext:
    return _client(pki, pki.station_certificate, pki.station_key, pki.station_passphrase.read_bytes().strip())


def _second(pki, second_station) -> ssl.SSLContext:
    folder, _signer = second_station
    return _client(pki, folder / "station.pem", folder / "station.key")


@pytest.fixture
def receiver(pki, synthetic, tmp_path):
    crl = tmp_path / "station-ca.crl"
    _write(crl, _crl(pki))
    settings = dataclasses.replace(synthetic.receiver_settings(pki, tmp_path / "rx"), crl=crl)
    running = synthetic.RunningReceiver(settings).start()
    yield running, crl
    running.stop()


def _upload(url, context, record, sealed) -> httpx.Response:
    with httpx.Client(base_url=url, verify=context) as client:
        return client.put(f"/v1/packets/{record.packet_id}", content=bytes(sealed),
                          headers={"Content-Type": "application/pkcs7-mime"})


def test_a_crl_applies_to_connections_and_packets_and_is_reloaded(receiver, pki, second_station, synthetic):
    running, crl = receiver
    first_certificate = load_certificate(pki.station_certificate)
    record = synthetic.record(fingers=1)
    registry = load_certificate(pki.registry_certificate)
    assert _upload(running.url, _first_station(pki), record, seal(build_packet(record), pki.station_signer(),
                                                                  registry)).status_code == 201

    _write(crl, _crl(pki, [first_certificate]))  # the first station is revoked: no restart
    with pytest.raises(httpx.HTTPError):
        _upload(running.url, _first_station(pki), record, b"")
    # ...nor can its packets come in through a station that is not revoked
    other = dataclasses.replace(synthetic.record(fingers=1), station_id=SUBJECT.station_id)
    refused = _upload(running.url, _second(pki, second_station), other,
                      seal(build_packet(other), pki.station_signer(), registry))
    assert refused.status_code == 422 and refused.json()["error"] == "certificate-revoked"
    # the second station's own packets still go in
    own = dataclasses.replace(synthetic.record(fingers=1), station_id="NA-SECOND-02")
    assert _upload(running.url, _second(pki, second_station), own,
                   seal(build_packet(own), second_station[1], registry)).status_code == 201


def test_a_crl_that_does_not_verify_is_refused_and_the_previous_one_stays(receiver, pki, caplog):
    running, crl = receiver
    with caplog.at_level(logging.ERROR, logger="receiver.revocation"):
        _write(crl, _crl(pki, [load_certificate(pki.station_certificate)], key=ec.generate_private_key(ec.SECP256R1())))
        with httpx.Client(base_url=running.url, verify=_first_station(pki)) as client:
            assert client.get("/health").status_code == 200  # the forged CRL revoked nobody
    assert "refused, the previous one stays" in caplog.text


def test_a_receiver_does_not_start_with_a_crl_that_does_not_verify(pki, tmp_path):
    crl = tmp_path / "forged.crl"
    crl.write_bytes(_crl(pki, key=ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(CrlError, match="not signed"):
        StationTrust(TlsFiles(pki.tls_certificate, pki.tls_key, pki.station_ca), crl)
    crl.write_bytes(b"not a crl")
    with pytest.raises(CrlError, match="not a CRL"):
        StationTrust(TlsFiles(pki.tls_certificate, pki.tls_key, pki.station_ca), crl)


@pytest.mark.parametrize("policy", ["warn", "refuse"])
def test_a_stale_crl_follows_the_configured_policy_for_uploads(pki, synthetic, tmp_path, policy):
    """OpenSSL would refuse every station under a CRL past its nextUpdate; the policy decides instead."""
    crl = tmp_path / "station-ca.crl"
    _write(crl, _crl(pki, stale=True))
    settings = dataclasses.replace(synthetic.receiver_settings(pki, tmp_path / "rx"), crl=crl, stale_crl=policy)
    running = synthetic.RunningReceiver(settings).start()
    try:
        record = synthetic.record(fingers=1)
        answer = _upload(running.url, _first_station(pki), record,
                         seal(build_packet(record), pki.station_signer(), load_certificate(pki.registry_certificate)))
        if policy == "warn":
            assert answer.status_code == 201
        else:
            assert answer.status_code == 403 and answer.json()["error"] == "crl-stale"
    finally:
        running.stop()
