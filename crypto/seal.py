"""Seal and open a packet: CMS SignedData (station key) inside CMS AuthEnvelopedData (registry's key).

Sign-then-encrypt: the signature is on the plaintext, so the registry keeps a verifiable statement
of what the station captured even after decryption, and nobody on the way learns who the citizen
is — or even which station signed, since the certificate is inside the encryption.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cryptography import x509

from crypto import der, envelope, signed_data
from crypto.errors import MalformedPacket
from crypto.keys import RecipientKey, Signer
from crypto.signed_data import DEFAULT_TIMING, SignedContent, SigningTimePolicy
from crypto.trust import TrustStore, Usage

SEALED_SUFFIX = ".p7m"
"""File suffix of a sealed packet: S/MIME's for CMS enveloped content (RFC 8551 §3.2.2)."""


def seal(content: bytes, signer: Signer, recipient: x509.Certificate, *,
         chain: Sequence[x509.Certificate] = (), signing_time: datetime | None = None) -> bytearray:
    """Sign ``content`` with the station's key, then encrypt it for the registry's certificate.

    The SignedData is never put together: its DER before and after the content and the content
    itself are encrypted in turn into the sealed packet, the only buffer of the packet's size made."""
    head, tail = signed_data.sign_around(content, signer, chain=chain, signing_time=signing_time)
    return envelope.envelope((head, content, tail), recipient)  # labelled signed-data (RFC 5652 §6.1)


def open_sealed(sealed: der.Buffer, recipient: RecipientKey, trust: TrustStore, *,
                timing: SigningTimePolicy = DEFAULT_TIMING, now: datetime | None = None) -> SignedContent:
    """Decrypt and verify a sealed packet (signed by a certificate trusted for packet signing);
    raises a :class:`crypto.errors.PacketError` subclass on refusal."""
    opened = envelope.open_envelope(sealed, recipient)
    # We label the encrypted content signed-data (RFC 5652 §6.1); `openssl cms -encrypt` labels whatever
    # it encrypts id-data, also a ContentInfo that `openssl cms -sign` made.  Either way the content
    # must then be a SignedData ContentInfo, which the verifier checks.
    if opened.content_type not in ("signed_data", "data"):
        raise MalformedPacket(f"the encrypted content is {opened.content_type}, not a signed packet")
    return signed_data.verify(opened.content, trust, usage=Usage.PACKET_SIGNING, timing=timing, now=now)
