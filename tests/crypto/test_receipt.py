"""Receipts: signed by the receiver, checked by the station against packet id and sealed bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crypto.keys import FileSigner, load_certificate, load_private_key
from crypto.receipt import ReceiptError, RegistryReceipt, sign_receipt, verify_receipt
from crypto.trust import TrustStore


def _receipt_signer(pki) -> FileSigner:
    return FileSigner(load_private_key(pki.receipt_key, None), load_certificate(pki.receipt_certificate))


RECEIPT = RegistryReceipt("0b7e3f5c-3c55-4d4b-9d55-1f1d2b8b2a10", "ab" * 32, "NA-HUNGDUNG-01",
                  datetime.now(UTC).replace(microsecond=0), "registry-dev")


def test_receipt_round_trip(ec_pki):
    blob = sign_receipt(RECEIPT, _receipt_signer(ec_pki))
    trust = TrustStore([load_certificate(ec_pki.receipt_certificate)])
    assert verify_receipt(blob, trust, packet_id=RECEIPT.packet_id, sealed_sha256="ab" * 32) == RECEIPT


@pytest.mark.parametrize(("packet_id", "digest", "message"), [
    ("00000000-0000-0000-0000-000000000000", "ab" * 32, "is for packet"),
    ("0b7e3f5c-3c55-4d4b-9d55-1f1d2b8b2a10", "cd" * 32, "other bytes"),
])
def test_receipt_for_something_else_is_refused(ec_pki, packet_id, digest, message):
    blob = sign_receipt(RECEIPT, _receipt_signer(ec_pki))
    with pytest.raises(ReceiptError, match=message):
        verify_receipt(blob, TrustStore([load_certificate(ec_pki.receipt_certificate)]), packet_id=packet_id,
                       sealed_sha256=digest)


def test_receipt_from_an_untrusted_receiver_is_refused(ec_pki, rsa_pki):
    blob = sign_receipt(RECEIPT, _receipt_signer(rsa_pki))
    with pytest.raises(ReceiptError, match="signature not accepted"):
        verify_receipt(blob, TrustStore([load_certificate(ec_pki.receipt_certificate)]), packet_id=RECEIPT.packet_id,
                       sealed_sha256="ab" * 32)


def test_receipt_signed_by_a_station_is_refused(ec_pki):
    """The receipt certificate is pinned: a station, though under the same root, cannot acknowledge packets."""
    from crypto.signed_data import sign

    blob = sign(RECEIPT.to_json(), ec_pki.station_signer(), chain=[load_certificate(ec_pki.station_ca)])
    with pytest.raises(ReceiptError):
        verify_receipt(blob, TrustStore([load_certificate(ec_pki.receipt_certificate)]),
                       packet_id=RECEIPT.packet_id, sealed_sha256="ab" * 32)


def test_a_receipt_is_signed_at_its_received_time_in_canonical_json(ec_pki):
    """The signing time is the moment of storage the receipt states, and the JSON is canonical
    (sorted keys): the same receipt is the same bytes on every receiver."""
    import json

    from crypto.signed_data import check_signed_attributes, parse, single_signer

    signed = parse(sign_receipt(RECEIPT, _receipt_signer(ec_pki)))
    assert check_signed_attributes(signed, single_signer(signed)).signing_time == RECEIPT.received_at
    document = json.loads(bytes(signed.content))
    assert signed.content == json.dumps(document, sort_keys=True).encode() and list(document) == sorted(document)
