"""Receipts: the receiver's signed statement "packet X, whose sealed bytes hash to H, is stored".

A receipt is a CMS SignedData (the same code and format as the packet's inner layer) over a small
JSON document, signed with the receiver's receipt-signing key.  The station marks a packet
acknowledged only after checking the signature, the chain to its configured receipt CA, the
packet id and the hash of exactly the bytes it sent — so neither a proxy answering 200 nor a
receiver that stored something else can make a station drop a packet.  The station's trust store
for receipts is the receiver's receipt-signing certificate itself (pinned), not the root above it,
and the certificate must carry the receipt-signing extended key usage (:mod:`crypto.trust`): no
other certificate of the same PKI (a station's, say) can sign a receipt, and the pinned one cannot
issue others (it is no CA).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from crypto import signed_data
from crypto.errors import CryptoError, PacketError
from crypto.keys import Signer
from crypto.trust import TrustStore, Usage

RECEIPT_VERSION = 1


class ReceiptError(CryptoError):
    """A receipt that does not prove the packet was stored (bad signature, other packet, other bytes)."""

    code = "bad-receipt"


@dataclass(frozen=True)
class RegistryReceipt:
    packet_id: str
    sealed_sha256: str
    """Hex SHA-256 of the sealed packet bytes the receiver stored."""
    station_id: str
    received_at: datetime
    receiver: str

    def to_json(self) -> bytes:
        return json.dumps({
            "receipt_version": RECEIPT_VERSION,
            "packet_id": self.packet_id,
            "sealed_sha256": self.sealed_sha256,
            "station_id": self.station_id,
            "received_at": self.received_at.isoformat(),
            "receiver": self.receiver,
        }, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> RegistryReceipt:
        try:
            document = json.loads(data)
            if document.get("receipt_version") != RECEIPT_VERSION:
                raise ReceiptError(f"unknown receipt version {document.get('receipt_version')!r}")
            return cls(document["packet_id"], document["sealed_sha256"], document["station_id"],
                       datetime.fromisoformat(document["received_at"]), document["receiver"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ReceiptError(f"the receipt's content is not a receipt: {error}") from error


def sign_receipt(receipt: RegistryReceipt, signer: Signer) -> bytes:
    """The DER CMS SignedData of ``receipt``."""
    return signed_data.sign(receipt.to_json(), signer, signing_time=receipt.received_at)


def verify_receipt(data: bytes, trust: TrustStore, *, packet_id: str, sealed_sha256: str) -> RegistryReceipt:
    """The receipt, if it is signed by a trusted receiver and is for exactly this packet and these bytes."""
    try:
        signed = signed_data.verify(data, trust, usage=Usage.RECEIPT_SIGNING)
    except PacketError as error:
        raise ReceiptError(f"receipt signature not accepted: {error}") from error
    receipt = RegistryReceipt.from_json(bytes(signed.content))
    if receipt.packet_id != packet_id:
        raise ReceiptError(f"the receipt is for packet {receipt.packet_id}, not {packet_id}")
    if receipt.sealed_sha256 != sealed_sha256:
        raise ReceiptError("the receipt is for other bytes than the packet sent")
    return receipt
