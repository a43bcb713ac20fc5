"""Forgeries inside valid envelopes: each must be refused by the one check that is there for it.

Flipping bytes of a sealed packet only ever meets AES-GCM, which refuses before a signature is
looked at.  A forger who can make a valid envelope (anyone: the registry's certificate is public)
attacks the SignedData inside it, and a forger with one station's key attacks the certificate
path.  Each forgery below is built so that exactly one check stands between it and acceptance:

- the content swapped, the signature kept: only the message-digest check sees it (the signature
  covers the signed attributes, not the content);
- the message-digest rewritten to fit the new content, or the signing time moved, or a garbage
  signature: only the signature check sees it;
- a "station" certificate issued by a real station's (non-CA) certificate: only the issuer-is-a-CA
  check sees it; one that names the station CA as issuer but is signed by another key: only the
  certificate's signature check sees it.

The same forgeries are tried on receipts, where acceptance would make the station purge a packet
the registry never stored, and through the receiver's intake and the station's uploader.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asn1crypto import cms, core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from crypto import envelope, signed_data
from crypto.errors import TamperedPacket, UnknownSigner
from crypto.keys import FileSigner, generate_station_key, load_certificate, load_private_key
from crypto.pki import issue_certificate
from crypto.receipt import ReceiptError, RegistryReceipt, sign_receipt, verify_receipt
from crypto.seal import open_sealed
from crypto.trust import PACKET_SIGNING, RECEIPT_SIGNING, TrustStore
from packet.build import build_packet
from receiver.server import build_intake
from station.outbox.store import Outbox, PacketState
from station.outbox.uploader import Outcome, Uploader

CONTENT = b"PK\x03\x04 the packet the station signed " * 40
FORGED = b"PK\x03\x04 the packet a forger wants stored " * 40


# -- forging a SignedData --------------------------------------------------------------------------

def _edit(blob: bytes, change) -> bytes:
    info = cms.ContentInfo.load(blob)
    change(info["content"], info["content"]["signer_infos"][0])
    return info.dump(force=True)


def _attribute(signer_info: cms.SignerInfo, name: str) -> cms.CMSAttribute:
    return next(a for a in signer_info["signed_attrs"] if a["type"].native == name)


def swap_content(blob: bytes, content: bytes) -> bytes:
    """The content replaced; signed attributes and signature untouched."""
    def change(sd, _si):
        sd["encap_content_info"] = {"content_type": "data", "content": content}
    return _edit(blob, change)


def swap_content_and_digest(blob: bytes, content: bytes) -> bytes:
    """The content replaced and the message-digest attribute made to fit it; the signature kept."""
    def change(sd, si):
        sd["encap_content_info"] = {"content_type": "data", "content": content}
        _attribute(si, "message_digest")["values"] = [hashlib.sha256(content).digest()]
    return _edit(blob, change)


def move_signing_time(blob: bytes, delta: timedelta) -> bytes:
    """The signed signing-time moved; the signature kept."""
    def change(_sd, si):
        attribute = _attribute(si, "signing_time")
        when = attribute["values"][0].native + delta
        attribute["values"] = [cms.Time({"utc_time": core.UTCTime(when)})]
    return _edit(blob, change)


def garbage_signature(blob: bytes) -> bytes:
    """A well-formed ECDSA signature (DER r, s) that the station never made."""
    rng = random.Random(7)
    signature = encode_dss_signature(rng.getrandbits(255), rng.getrandbits(255))
    def change(_sd, si):
        si["signature"] = signature
    return _edit(blob, change)


SIGNATURE_FORGERIES = {
    "message-digest fitted to swapped content": lambda blob: swap_content_and_digest(blob, FORGED),
    "signing time moved back a year": lambda blob: move_signing_time(blob, -timedelta(days=365)),
    "garbage signature": garbage_signature,
}


def test_the_forgeries_are_what_they_claim(ec_pki):
    """Each forgery changes only what it says: the others' checks still pass on it."""
    blob = signed_data.sign(CONTENT, ec_pki.station_signer())
    swapped = signed_data.parse(swap_content(blob, FORGED))
    signer_info = signed_data.single_signer(swapped)
    certificate = load_certificate(ec_pki.station_certificate)
    signed_data.verify_signature(signer_info, certificate)  # the signature still verifies...
    with pytest.raises(TamperedPacket, match="digest"):  # ...only the digest gives it away
        signed_data.check_signed_attributes(swapped, signer_info)
    for name, forge in SIGNATURE_FORGERIES.items():
        parsed = signed_data.parse(forge(blob))
        signed_data.check_signed_attributes(parsed, signed_data.single_signer(parsed))  # passes: {name}
        with pytest.raises(TamperedPacket, match="signature"):
            signed_data.verify_signature(signed_data.single_signer(parsed), certificate)
        assert name


# -- packets: sealed for the registry, so that only the inner checks can refuse them -----------------

def _envelope(pki, inner: bytes) -> bytes:
    return envelope.envelope(inner, load_certificate(pki.registry_certificate), content_type="signed_data")


def test_a_swapped_content_under_a_kept_signature_is_tampered(pki, helpers):
    sealed = _envelope(pki, swap_content(signed_data.sign(CONTENT, pki.station_signer()), FORGED))
    with pytest.raises(TamperedPacket, match="digest"):
        open_sealed(sealed, helpers.recipient(pki), helpers.trust(pki))


@pytest.mark.parametrize("forgery", sorted(SIGNATURE_FORGERIES))
def test_a_signature_that_does_not_cover_the_attributes_is_tampered(ec_pki, helpers, forgery):
    inner = SIGNATURE_FORGERIES[forgery](signed_data.sign(CONTENT, ec_pki.station_signer()))
    with pytest.raises(TamperedPacket, match="signature"):
        open_sealed(_envelope(ec_pki, inner), helpers.recipient(ec_pki), helpers.trust(ec_pki))


STATION_USAGES = (PACKET_SIGNING, ExtendedKeyUsageOID.CLIENT_AUTH)
"""What a genuine station certificate carries: a forged one carries it too, so that only the path is wrong."""


def _station_name(station_id: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, station_id)])


def test_a_station_certificate_issued_by_another_station_is_refused(ec_pki, helpers):
    """A stolen station key issues itself a second identity: its issuer is no CA."""
    station = load_certificate(ec_pki.station_certificate)
    station_key = load_private_key(ec_pki.station_key, ec_pki.station_passphrase.read_bytes().strip())
    key = generate_station_key()
    forged = issue_certificate(_station_name("NA-FORGED-99"), key.public_key(), station, station_key,
                               extended=STATION_USAGES)
    inner = signed_data.sign(CONTENT, FileSigner(key, forged), chain=[station])
    with pytest.raises(UnknownSigner, match="not trusted"):
        open_sealed(_envelope(ec_pki, inner), helpers.recipient(ec_pki), helpers.trust(ec_pki))


def test_a_station_certificate_naming_the_ca_but_signed_by_another_key_is_refused(ec_pki, helpers):
    ca = load_certificate(ec_pki.station_ca)
    key = generate_station_key()
    impostor = generate_station_key()  # not the station CA's key
    forged = issue_certificate(_station_name("NA-FORGED-98"), key.public_key(), ca, impostor,
                               extended=STATION_USAGES)
    inner = signed_data.sign(CONTENT, FileSigner(key, forged))
    with pytest.raises(UnknownSigner, match="not trusted"):
        open_sealed(_envelope(ec_pki, inner), helpers.recipient(ec_pki), helpers.trust(ec_pki))


def test_the_receiver_refuses_a_forged_packet_and_stores_nothing(ec_pki, synthetic, tmp_path):
    intake = build_intake(synthetic.receiver_settings(ec_pki, tmp_path / "receiver"))
    record = synthetic.record()
    packet_id = str(record.packet_id)
    genuine = signed_data.sign(build_packet(record), ec_pki.station_signer())
    other = synthetic.record()
    # another citizen's record under the genuine packet's id, as a forger would substitute it
    forged = swap_content_and_digest(genuine, build_packet(dataclasses.replace(other, packet_id=record.packet_id)))
    with pytest.raises(TamperedPacket) as refused:
        intake.accept(packet_id, _envelope(ec_pki, forged))
    assert refused.value.code == "tampered" and intake.store.get(packet_id) is None


# -- receipts: what the station believes before it may purge a packet -------------------------------

PACKET_ID = "0b7e3f5c-3c55-4d4b-9d55-1f1d2b8b2a10"
SEALED = b"sealed bytes " * 50


def _receipt_signer(pki) -> FileSigner:
    return FileSigner(load_private_key(pki.receipt_key, None), load_certificate(pki.receipt_certificate))


def _receipt(pki, packet_id: str = PACKET_ID, sealed: bytes = SEALED) -> bytes:
    return sign_receipt(RegistryReceipt(packet_id, hashlib.sha256(sealed).hexdigest(), "NA-HUNGDUNG-01",
                                        datetime.now(UTC).replace(microsecond=0), "registry"), _receipt_signer(pki))


def _receipt_trust(pki) -> TrustStore:
    return TrustStore([load_certificate(pki.receipt_certificate)])


def _verify(pki, blob: bytes) -> RegistryReceipt:
    return verify_receipt(blob, _receipt_trust(pki), packet_id=PACKET_ID,
                          sealed_sha256=hashlib.sha256(SEALED).hexdigest())


def test_a_receipt_for_another_packet_with_the_content_swapped_is_refused(ec_pki):
    """The registry's genuine receipt for some other packet, its content rewritten for this one."""
    genuine = _receipt(ec_pki, str(uuid.uuid4()), b"another packet")
    wanted = _verify_content(ec_pki)
    with pytest.raises(ReceiptError, match="digest"):
        _verify(ec_pki, swap_content(genuine, wanted))


def _verify_content(pki) -> bytes:
    return bytes(signed_data.parse(_receipt(pki)).content)


@pytest.mark.parametrize("forgery", sorted(SIGNATURE_FORGERIES))
def test_a_receipt_whose_signature_does_not_cover_it_is_refused(ec_pki, forgery):
    genuine = _receipt(ec_pki, str(uuid.uuid4()), b"another packet")
    forge = SIGNATURE_FORGERIES[forgery]
    blob = (swap_content_and_digest(genuine, _verify_content(ec_pki))
            if forgery.startswith("message-digest") else forge(_receipt(ec_pki)))
    with pytest.raises(ReceiptError, match="signature"):
        _verify(ec_pki, blob)


def test_a_receipt_signed_under_the_pinned_receipt_certificate_is_refused(ec_pki):
    """Whoever has the receipt key cannot issue further receipt signers: the pinned certificate is no CA."""
    pinned = load_certificate(ec_pki.receipt_certificate)
    key = generate_station_key()
    forged = issue_certificate(_station_name("receipts-too"), key.public_key(), pinned,
                               load_private_key(ec_pki.receipt_key, None), extended=(RECEIPT_SIGNING,))
    receipt = RegistryReceipt(PACKET_ID, hashlib.sha256(SEALED).hexdigest(), "NA-HUNGDUNG-01",
                              datetime.now(UTC).replace(microsecond=0), "registry")
    blob = signed_data.sign(receipt.to_json(), FileSigner(key, forged), chain=[pinned])
    with pytest.raises(ReceiptError, match="not trusted"):
        _verify(ec_pki, blob)


def test_the_station_keeps_a_packet_whose_receipt_is_forged(ec_pki, tmp_path):
    """Through the uploader: the forged receipt is not an acknowledgement, so nothing is purged."""
    outbox = Outbox(tmp_path)
    outbox.add(PACKET_ID, SEALED)
    forged = swap_content(_receipt(ec_pki, str(uuid.uuid4()), b"another packet"), _verify_content(ec_pki))

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, content=forged)

    client = httpx.Client(base_url="https://receiver.test", transport=httpx.MockTransport(handler))
    uploader = Uploader(outbox, client, _receipt_trust(ec_pki), rng=random.Random(1))
    assert uploader.upload_due()[Outcome.RETRY] == 1
    row = outbox.get(PACKET_ID)
    assert row.state is PacketState.SEALED and row.last_error.startswith("bad-receipt")
    assert outbox.read_sealed(PACKET_ID) == SEALED
