"""The receiver's checks, each refusal with its distinct code; duplicates get the same receipt."""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from crypto.errors import CertificateExpired, ManifestMismatch, TamperedPacket, UnknownSigner, WrongRecipient
from crypto.keys import FileSigner, generate_station_key, load_certificate
from crypto.pki import StationSubject, create_dev_pki, issue_station_certificate, make_csr
from crypto.receipt import verify_receipt
from crypto.seal import seal
from crypto.trust import TrustStore
from packet.build import build_packet
from receiver.importer import import_directory
from receiver.intake import BadPacketId, IdMismatch, PacketConflict
from receiver.server import build_intake

SUBJECT = StationSubject("NA-HUNGDUNG-01", "40", "412")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("pki"), SUBJECT)


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory):
    return create_dev_pki(tmp_path_factory.mktemp("other"), SUBJECT)


@pytest.fixture
def intake(pki, synthetic, tmp_path):
    return build_intake(synthetic.receiver_settings(pki, tmp_path / "receiver"))


@pytest.fixture(scope="module")
def zipped(synthetic):
    record = synthetic.record()
    return str(record.packet_id), build_packet(record)


def _seal(pki, content, signer=None):
    return seal(content, signer or pki.station_signer(), load_certificate(pki.registry_certificate))


def test_accept_then_duplicate_gets_the_same_receipt(intake, pki, zipped):
    packet_id, content = zipped
    sealed = _seal(pki, content)
    first = intake.accept(packet_id, sealed)
    again = intake.accept(packet_id, sealed)
    assert first.created is True and again.created is False and again.receipt == first.receipt
    import hashlib

    receipt = verify_receipt(first.receipt, TrustStore([load_certificate(pki.receipt_certificate)]),
                             packet_id=packet_id, sealed_sha256=hashlib.sha256(sealed).hexdigest())
    assert receipt.station_id == "NA-HUNGDUNG-01"
    assert receipt.receiver == "registry-test" and receipt.received_at.microsecond == 0
    assert intake.store.count() == 1 and intake.store.path_of(packet_id).read_bytes() == sealed
    assert intake.store.get(packet_id).via == "upload"


def test_a_stored_packet_is_answered_from_the_store_without_opening_it_again(intake, pki, zipped):
    """A station retrying after its certificate was revoked still gets the receipt of what was stored."""
    packet_id, content = zipped
    sealed = _seal(pki, content)
    first = intake.accept(packet_id, sealed)

    def revoked() -> TrustStore:
        raise AssertionError("a stored packet is not checked again")

    intake.station_trust = revoked
    assert intake.accept(packet_id, sealed).receipt == first.receipt


def test_the_configured_signing_time_policy_is_applied(intake, pki, zipped):
    from crypto.errors import BadSigningTime
    from crypto.signed_data import SigningTimePolicy

    packet_id, content = zipped
    ahead = seal(content, pki.station_signer(), load_certificate(pki.registry_certificate),
                 signing_time=datetime.now(UTC) + timedelta(minutes=2))
    intake.timing = SigningTimePolicy(clock_skew=timedelta(seconds=30))
    with pytest.raises(BadSigningTime):
        intake.accept(packet_id, ahead)  # within the default 5 minutes, beyond this receiver's 30 s


def test_a_packet_larger_than_the_limit_is_refused_before_it_is_read(intake):
    from crypto.errors import MalformedPacket
    from receiver.intake import MAX_PACKET_BYTES

    with pytest.raises(MalformedPacket, match="more than a packet may hold"):
        intake.accept(str(uuid.uuid4()), bytes(MAX_PACKET_BYTES + 1))
    with pytest.raises(MalformedPacket, match="CMS"):
        intake.accept(str(uuid.uuid4()), bytes(MAX_PACKET_BYTES))


def test_same_id_other_bytes_is_a_conflict(intake, pki, zipped):
    packet_id, content = zipped
    intake.accept(packet_id, _seal(pki, content))
    with pytest.raises(PacketConflict):
        intake.accept(packet_id, _seal(pki, content))  # sealed again: new key, new bytes


def test_refusals_have_distinct_codes(intake, pki, other_pki, zipped):
    packet_id, content = zipped
    sealed = bytearray(_seal(pki, content))
    sealed[len(sealed) // 2] ^= 1
    cases = {
        "tampered": (TamperedPacket, bytes(sealed)),
        "unknown-station": (UnknownSigner, _seal(pki, content, other_pki.station_signer())),
        "wrong-recipient": (WrongRecipient, _seal(other_pki, content)),
    }
    key = generate_station_key()
    expired = issue_station_certificate(make_csr(SUBJECT, key), load_certificate(pki.station_ca),
                                        pki.ca_key(pki.station_ca_key),
                                        not_before=datetime.now(UTC) - timedelta(days=10), days=5)
    cases["certificate-expired"] = (CertificateExpired, _seal(pki, content, FileSigner(key, expired)))
    codes = set()
    for code, (kind, data) in cases.items():
        with pytest.raises(kind) as caught:
            intake.accept(packet_id, data)
        assert caught.value.code == code
        codes.add(caught.value.code)
    assert len(codes) == 4 and intake.store.count() == 0


def test_id_in_url_must_be_the_sealed_one(intake, pki, zipped):
    _, content = zipped
    with pytest.raises(IdMismatch) as caught:
        intake.accept(str(uuid.uuid4()), _seal(pki, content))
    assert caught.value.code == "id-mismatch"
    with pytest.raises(BadPacketId):
        intake.accept("not-a-uuid", _seal(pki, content))


def test_manifest_hash_mismatch(intake, pki, zipped, synthetic):
    packet_id, content = zipped
    archive = zipfile.ZipFile(io.BytesIO(content))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        for name in archive.namelist():
            data = archive.read(name)
            out.writestr(name, data + b"x" if name == "face/token.jpg" else data)
    with pytest.raises(ManifestMismatch, match="SHA-256"):
        intake.accept(packet_id, _seal(pki, buffer.getvalue()))
    forged = synthetic.with_manifest(content, lambda manifest: manifest.update(station_id="SOMEONE-ELSE"))
    with pytest.raises(ManifestMismatch, match="signed by station"):
        intake.accept(packet_id, _seal(pki, forged))


def test_import_directory(intake, pki, synthetic, tmp_path):
    stick = tmp_path / "usb"
    stick.mkdir()
    ids = []
    for _ in range(2):
        record = synthetic.record(fingers=2)
        ids.append(str(record.packet_id))
        (stick / f"{record.packet_id}.p7m").write_bytes(_seal(pki, build_packet(record)))
    bad = str(uuid.uuid4())
    (stick / f"{bad}.p7m").write_bytes(b"garbage")
    results = {r.packet_id: r.outcome for r in import_directory(stick, intake)}
    assert results == {ids[0]: "stored", ids[1]: "stored", bad: "malformed"}
    assert (stick / f"{ids[0]}.receipt.p7s").is_file()
    again = {r.packet_id: r.outcome for r in import_directory(stick, intake)}
    assert again[ids[0]] == "duplicate"


def test_a_manifest_the_schema_refuses_is_refused_by_the_receiver(intake, pki, zipped, synthetic):
    """The receiver validates with packet/: a signed, decryptable packet whose manifest breaks the schema
    (here: a newer schema version, and a missing operator) is refused, not stored."""
    packet_id, content = zipped
    for change, message, code in [(lambda m: m.update(schema_version=2), "schema version 2", "unsupported-format"),
                                  (lambda m: m.update(format="x"), "format", "unsupported-format"),
                                  (lambda m: m.pop("operator_id"), "operator_id", "manifest-mismatch")]:
        with pytest.raises(ManifestMismatch, match=message) as caught:
            intake.accept(packet_id, _seal(pki, synthetic.with_manifest(content, change)))
        assert caught.value.code == code
    assert intake.store.count() == 0


def test_a_hostile_zip_under_a_valid_signature_is_refused_and_not_stored(intake, pki, zipped):
    """A station's key signs a ZIP with a compressed (bomb) entry and a traversal name: refused unread."""
    packet_id, content = zipped
    source = zipfile.ZipFile(io.BytesIO(content))
    for name, method in [(source.namelist()[1], zipfile.ZIP_BZIP2), ("../../etc/cron.d/x", zipfile.ZIP_STORED)]:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as out:
            out.writestr("manifest.json", source.read("manifest.json"))
            out.writestr(name, bytes(1 << 20), compress_type=method)
        with pytest.raises(ManifestMismatch) as caught:
            intake.accept(packet_id, _seal(pki, buffer.getvalue()))
        assert caught.value.code == "unsafe-zip"
    assert intake.store.count() == 0


def test_a_race_with_another_request_for_the_same_id_is_settled_by_the_store(intake, pki, zipped, monkeypatch):
    """Between the check and the write another request stored the id: the same bytes get that
    request's receipt (not a second one), other bytes are a conflict."""
    import dataclasses
    import hashlib

    packet_id, content = zipped
    sealed = _seal(pki, content)
    winner = intake.accept(packet_id, sealed)  # what the other request stored
    stored = intake.store.get(packet_id)
    monkeypatch.setattr(intake.store, "get", lambda _packet_id: None)  # the check ran before it was stored
    again = intake.accept(packet_id, sealed)
    assert again.created is False and again.receipt == winner.receipt
    other = dataclasses.replace(stored, sealed_sha256=hashlib.sha256(b"other bytes").hexdigest())
    monkeypatch.setattr(intake.store, "put", lambda _record, _sealed: other)
    with pytest.raises(PacketConflict):
        intake.accept(packet_id, sealed)
