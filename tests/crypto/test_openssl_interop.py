"""Interoperability with the real ``openssl`` CLI, both ways (the registry must not depend on our code)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from crypto.envelope import open_envelope
from crypto.errors import MalformedPacket
from crypto.keys import load_certificate
from crypto.seal import seal

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")

CONTENT = bytes(range(256)) * 400


def _openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, check=False, timeout=60)


def test_openssl_decrypts_then_verifies_what_we_seal(pki, helpers, tmp_path):
    sealed = tmp_path / "packet.p7m"
    sealed.write_bytes(seal(CONTENT, pki.station_signer(), helpers.registry(pki),
                            chain=[load_certificate(pki.station_ca)]))
    signed, out = tmp_path / "signed.p7s", tmp_path / "content.bin"
    decrypted = _openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(sealed),
                         "-recip", str(pki.registry_certificate), "-inkey", str(pki.registry_key), "-out", str(signed))
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    verified = _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(signed),
                        "-CAfile", str(pki.root), "-out", str(out))
    assert verified.returncode == 0, verified.stderr.decode()
    assert b"Verification successful" in verified.stderr
    assert out.read_bytes() == CONTENT


def test_openssl_refuses_a_verification_against_another_root(ec_pki, rsa_pki, helpers, tmp_path):
    """The verify step is a real check: another PKI's root does not vouch for our station."""
    sealed = tmp_path / "packet.p7m"
    sealed.write_bytes(seal(CONTENT, ec_pki.station_signer(), helpers.registry(ec_pki),
                            chain=[load_certificate(ec_pki.station_ca)]))
    signed = tmp_path / "signed.p7s"
    assert _openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(sealed), "-recip",
                    str(ec_pki.registry_certificate), "-inkey", str(ec_pki.registry_key), "-out",
                    str(signed)).returncode == 0
    verified = _openssl("cms", "-verify", "-binary", "-inform", "DER", "-in", str(signed),
                        "-CAfile", str(rsa_pki.root), "-out", str(tmp_path / "x"))
    assert verified.returncode != 0


@pytest.mark.parametrize("streamed", [False, True], ids=["definite", "indefinite-length"])
def test_we_open_what_openssl_encrypts(pki, helpers, tmp_path, streamed):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(CONTENT)
    out = tmp_path / "openssl.p7m"
    oaep = ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"]
    options = oaep if "rsa" in pki.directory.name else []
    result = _openssl("cms", "-encrypt", "-aes-256-gcm", "-binary", *(["-stream", "-indef"] if streamed else []),
                      "-in", str(plain), "-outform", "DER", "-out", str(out),
                      "-recip", str(pki.registry_certificate), *options)
    assert result.returncode == 0, result.stderr.decode()
    opened = open_envelope(out.read_bytes(), helpers.recipient(pki))
    assert opened.content == CONTENT and opened.content_type == "data"


def test_pkcs1_v15_key_transport_is_refused(rsa_pki, helpers, tmp_path):
    plain = tmp_path / "plain.bin"
    plain.write_bytes(CONTENT)
    out = tmp_path / "v15.p7m"
    assert _openssl("cms", "-encrypt", "-aes-256-gcm", "-binary", "-in", str(plain), "-outform", "DER",
                    "-out", str(out), "-recip", str(rsa_pki.registry_certificate)).returncode == 0
    with pytest.raises(MalformedPacket, match="only RSA-OAEP"):
        open_envelope(out.read_bytes(), helpers.recipient(rsa_pki))


def test_a_packet_made_with_openssl_alone_is_accepted_and_its_receipt_verifies(ec_pki, synthetic, tmp_path):
    """The station's job done by stock openssl (cms -sign, then cms -encrypt, which labels the content
    id-data): the receiver stores it, and its receipt verifies for exactly those bytes."""
    import hashlib

    from crypto.receipt import verify_receipt
    from crypto.trust import TrustStore
    from packet.build import build_packet
    from receiver.server import build_intake

    record = synthetic.record(fingers=1)
    packet = tmp_path / "packet.zip"
    packet.write_bytes(build_packet(record))
    signed, sealed = tmp_path / "signed.der", tmp_path / "packet.p7m"
    result = _openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-in", str(packet),
                      "-signer", str(ec_pki.station_certificate), "-inkey", str(ec_pki.station_key),
                      "-passin", f"file:{ec_pki.station_passphrase}", "-certfile", str(ec_pki.station_ca),
                      "-outform", "DER", "-out", str(signed))
    assert result.returncode == 0, result.stderr.decode()
    result = _openssl("cms", "-encrypt", "-aes-256-gcm", "-binary", "-in", str(signed), "-outform", "DER",
                      "-out", str(sealed), "-recip", str(ec_pki.registry_certificate))
    assert result.returncode == 0, result.stderr.decode()
    intake = build_intake(synthetic.receiver_settings(ec_pki, tmp_path / "receiver"))
    accepted = intake.accept(str(record.packet_id), sealed.read_bytes())
    assert accepted.created
    receipt = verify_receipt(accepted.receipt, TrustStore([load_certificate(ec_pki.receipt_certificate)]),
                             packet_id=str(record.packet_id),
                             sealed_sha256=hashlib.sha256(sealed.read_bytes()).hexdigest())
    assert receipt.station_id == record.station_id


def test_id_data_that_is_not_a_signed_data_is_malformed(ec_pki, helpers, tmp_path):
    from crypto.seal import open_sealed

    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"PK\x03\x04 an unsigned zip")
    out = tmp_path / "unsigned.p7m"
    assert _openssl("cms", "-encrypt", "-aes-256-gcm", "-binary", "-in", str(plain), "-outform", "DER",
                    "-out", str(out), "-recip", str(ec_pki.registry_certificate)).returncode == 0
    with pytest.raises(MalformedPacket):
        open_sealed(out.read_bytes(), helpers.recipient(ec_pki), helpers.trust(ec_pki))


def test_an_oaep_label_written_by_openssl_is_honoured(rsa_pki, helpers, tmp_path):
    """RFC 8017 §7.1: the label (RFC 4055 pSourceAlgorithm) is part of the decryption; we never write
    one, but a registry must open what openssl writes with one."""
    plain, out = tmp_path / "plain.bin", tmp_path / "labelled.p7m"
    plain.write_bytes(CONTENT)
    assert _openssl("cms", "-encrypt", "-aes-256-gcm", "-binary", "-in", str(plain), "-outform", "DER",
                    "-out", str(out), "-recip", str(rsa_pki.registry_certificate),
                    "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256",
                    "-keyopt", "rsa_oaep_label:0011223344").returncode == 0
    assert open_envelope(out.read_bytes(), helpers.recipient(rsa_pki)).content == CONTENT


@pytest.mark.parametrize(("oaep", "mgf"), [("md5", "sha256"), ("sha256", "md5")])
def test_an_oaep_hash_we_do_not_accept_is_malformed(rsa_pki, helpers, tmp_path, oaep, mgf):
    plain, out = tmp_path / "plain.bin", tmp_path / "md5.p7m"
    plain.write_bytes(CONTENT)
    result = _openssl("cms", "-encrypt", "-aes-256-gcm", "-binary", "-in", str(plain), "-outform", "DER",
                      "-out", str(out), "-recip", str(rsa_pki.registry_certificate),
                      "-keyopt", "rsa_padding_mode:oaep", "-keyopt", f"rsa_oaep_md:{oaep}",
                      "-keyopt", f"rsa_mgf1_md:{mgf}")
    if result.returncode != 0:
        pytest.skip(f"this openssl does not write OAEP with {oaep}/{mgf}: {result.stderr.decode()[:200]}")
    with pytest.raises(MalformedPacket, match="unsupported OAEP hash"):
        open_envelope(out.read_bytes(), helpers.recipient(rsa_pki))
