"""Typed errors of sealing and opening, each with a stable ``code`` the receiver returns to stations.

The codes are part of the wire contract (``docs/packet-format.md``): a station reads them to tell a
packet that will never be accepted (tampered, wrong recipient) from a problem of the moment.
Each is an :class:`~drivers.errors.ExplainedError` (the one module of another layer that ``crypto``
imports): the text is plain English for the technician and the registry's operators, and the
citizen message says calmly that the enrolment cannot be saved now.
"""

from __future__ import annotations

from drivers.errors import N_, ExplainedError


class CryptoError(ExplainedError):
    """Base of every error of this package."""

    code = "crypto-error"
    citizen_message = N_("This station cannot save the enrolment right now. Please wait for the officer.")
    technician_hint = "Check the station's keys and certificates ([keys]) and run `enrol diag`."


class KeyStoreError(CryptoError):
    """A key or certificate cannot be loaded, unlocked or used (wrong passphrase, missing token, mismatch)."""

    code = "key-store"


class CertificateMismatch(KeyStoreError):
    """The certificate offered does not belong to the key, or does not chain to the expected CA."""

    code = "certificate-mismatch"


class PacketError(CryptoError):
    """A sealed packet was refused.  Subclasses say why; ``code`` goes back to the station."""

    code = "malformed"


class MalformedPacket(PacketError):
    """The bytes are not the CMS structure a sealed packet must be."""

    code = "malformed"


class WrongRecipient(PacketError):
    """The packet is not encrypted for any key this side holds."""

    code = "wrong-recipient"


class TamperedPacket(PacketError):
    """Decryption or the signature check failed: the bytes changed after sealing."""

    code = "tampered"


class UnknownSigner(PacketError):
    """The signer's certificate does not chain to a trusted CA (an unknown station)."""

    code = "unknown-station"


class CertificateExpired(PacketError):
    """A certificate of the chain was not valid at the signing time."""

    code = "certificate-expired"


class BadSigningTime(PacketError):
    """The signing time is later than this side's clock allows (beyond the configured clock skew)."""

    code = "bad-signing-time"


class CertificateRevoked(PacketError):
    """The signer's certificate is on the configured CRL."""

    code = "certificate-revoked"


class StaleCrl(PacketError):
    """A CRL of the chain is past its nextUpdate, and the configuration says to refuse rather than warn."""

    code = "crl-stale"


class ManifestMismatch(PacketError):
    """The packet opened and verified, but its manifest disagrees with its files or its id."""

    code = "manifest-mismatch"
