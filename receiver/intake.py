"""The receiver's checks on one packet, in the order that refuses cheaply first, and its receipt.

1. The id in the URL must be a UUID.  A packet already stored under it with the same bytes gets the
   stored receipt back (idempotent ``PUT``); with other bytes it is a conflict.
2. Decrypt (AuthEnvelopedData; ``wrong-recipient``, ``tampered``), verify the signature and the
   station's chain at the signing time (``tampered``, ``unknown-station``, ``certificate-expired``,
   ``certificate-revoked``).
3. Read the packet with :mod:`packet.manifest`: the manifest must follow the packet schema (of a
   schema version this receiver knows), list every file with its SHA-256 and nothing else may be in
   the ZIP, and it must name this packet id and the signing station (``manifest-mismatch``).
4. Store the sealed bytes and the receipt in one step, then answer with the receipt.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.x509.oid import NameOID

from crypto.der import Buffer
from crypto.errors import MalformedPacket, ManifestMismatch, PacketError
from crypto.keys import RecipientKey, Signer
from crypto.receipt import RegistryReceipt, sign_receipt
from crypto.seal import open_sealed
from crypto.signed_data import DEFAULT_TIMING, SigningTimePolicy
from crypto.trust import TrustStore
from packet.manifest import Packet, PacketFormatError, UnsafeZip, UnsupportedManifest, read_packet
from receiver.store import PacketStore, StoredPacket

MAX_PACKET_BYTES = 64 * 1024 * 1024


class PacketConflict(PacketError):
    """Another packet with this id is already stored (different bytes)."""

    code = "conflict"


class BadPacketId(PacketError):
    code = "bad-packet-id"


class UnsupportedPacket(ManifestMismatch):
    """A manifest of another format or of a schema version this receiver does not read."""

    code = "unsupported-format"


class UnsafeArchive(ManifestMismatch):
    """A ZIP this format never makes (compressed or encrypted entries, unknown or repeated names, sizes
    beyond the packet's): refused before anything is decompressed or stored."""

    code = "unsafe-zip"


_REFUSALS: dict[type[PacketFormatError], type[ManifestMismatch]] = {
    UnsupportedManifest: UnsupportedPacket, UnsafeZip: UnsafeArchive}


class IdMismatch(ManifestMismatch):
    """The id in the URL (or file name) is not the id sealed inside the packet."""

    code = "id-mismatch"


@dataclass(frozen=True)
class Accepted:
    receipt: bytes
    created: bool
    """False when the packet was already stored (a retry or an import of a packet already uploaded)."""


class Intake:
    def __init__(self, recipient: RecipientKey, station_trust: Callable[[], TrustStore], receipt_signer: Signer,
                 store: PacketStore, *, name: str = "registry", timing: SigningTimePolicy = DEFAULT_TIMING) -> None:
        self.recipient = recipient
        self.station_trust = station_trust
        """The trust store for packet signers as it is now (the CRL may be reloaded between two packets)."""
        self.timing = timing
        self.receipt_signer = receipt_signer
        self.store = store
        self.name = name

    def accept(self, packet_id: str, sealed: Buffer, *, via: str = "upload") -> Accepted:
        """Check, store and acknowledge one packet; raises a :class:`PacketError` subclass when refused.
        ``sealed`` is read where it lies (the receiver maps the request body's file), never copied whole."""
        try:
            canonical = str(uuid.UUID(packet_id))
        except ValueError:
            raise BadPacketId(f"{packet_id!r} is not a packet id (UUID)") from None
        if canonical != packet_id:
            raise BadPacketId(f"write the packet id in canonical lower-case form: {canonical}")
        if len(sealed) > MAX_PACKET_BYTES:
            raise MalformedPacket(f"{len(sealed)} bytes is more than a packet may hold ({MAX_PACKET_BYTES})")
        digest = hashlib.sha256(sealed).hexdigest()
        stored = self.store.get(packet_id)
        if stored is not None:
            return self._duplicate(stored, digest)
        opened = open_sealed(sealed, self.recipient, self.station_trust(), timing=self.timing)
        station_id = _common_name(opened.signer)
        check_manifest(opened.content, packet_id, station_id)
        received_at = datetime.now(UTC).replace(microsecond=0)
        receipt = sign_receipt(RegistryReceipt(packet_id, digest, station_id, received_at, self.name),
                               self.receipt_signer)
        record = StoredPacket(packet_id, station_id, digest, len(sealed), received_at, receipt, via)
        kept = self.store.put(record, sealed)
        if kept is not record:  # another request stored the same id meanwhile
            return self._duplicate(kept, digest)
        return Accepted(receipt, created=True)

    @staticmethod
    def _duplicate(stored: StoredPacket, digest: str) -> Accepted:
        if stored.sealed_sha256 != digest:
            raise PacketConflict(f"packet {stored.packet_id} is already stored with other content")
        return Accepted(stored.receipt, created=False)


def check_manifest(content: Buffer, packet_id: str, station_id: str) -> Packet:
    """The packet read from verified ``content``: valid by the packet format (:mod:`packet.manifest`),
    for this packet id and sealed by the station that signed it."""
    try:
        packet = read_packet(content)
    except PacketFormatError as error:
        raise _REFUSALS.get(type(error), ManifestMismatch)(error.detail) from error
    if packet.packet_id != packet_id:
        raise IdMismatch(f"the packet sealed is {packet.packet_id}, not {packet_id}")
    if packet.station_id != station_id:
        raise ManifestMismatch(f"signed by station {station_id} but the manifest says {packet.station_id}")
    return packet


def _common_name(certificate: object) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)  # type: ignore[attr-defined]
    if not names:
        raise MalformedPacket("the station certificate has no common name (station id)")
    return str(names[0].value)
