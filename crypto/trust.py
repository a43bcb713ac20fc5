"""Trust in the registry's PKI: which certificates may sign packets, sign receipts or connect as a
station, checked by a maintained RFC 5280 path validator, and the CRLs that revoke them.

The path is validated by cryptography's ``x509.verification`` (PyCA's Rust implementation of
RFC 5280 path building with the CA/Browser Forum's profile for issuers): every issuer must be a CA
(``basicConstraints cA=TRUE``, critical, with its ``pathLenConstraint`` honoured) with ``keyCertSign``,
signatures must be by the issuer's key, and every certificate must be valid at the time given
(for a packet, its signing time: a station offline for a month still delivers what it signed while
its certificate was valid).  docs/decisions.md says why this validator and not pyhanko-certvalidator.
On top, each :class:`Usage` demands of the end certificate what that use needs, and keeps the uses
apart: ``digitalSignature`` in keyUsage, no ``cA=TRUE``, and its own extended key usage — a station's
certificate cannot sign a receipt, a receipt certificate cannot sign a packet or connect as a station.

Revocation (RFC 5280 §6.3, one CRL per issuing CA) is checked here on the validated chain, with
CRLs whose signature is checked when the store is made.
ICAO Document Signers are another profile: :mod:`crypto.csca`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from crypto.errors import CertificateExpired, CertificateRevoked, CryptoError, StaleCrl, UnknownSigner

log = logging.getLogger(__name__)

MAX_CHAIN = 4
"""Root → station CA → station is three; one more allows an intermediate the province inserts."""

PACKET_SIGNING = x509.ObjectIdentifier("2.25.203766439958328978788494342587864419214")
"""Extended key usage "signs enrolment packets".  An OID under 2.25 is derived from a UUID
(ITU-T X.667 §6.3, RFC 4122): anyone may mint one without a registered arc."""
RECEIPT_SIGNING = x509.ObjectIdentifier("2.25.146820514293265941585997083091968585930")
"""Extended key usage "signs registry receipts" (2.25: see :data:`PACKET_SIGNING`)."""


class Usage(enum.Enum):
    """What an end certificate is checked for, with the extended key usage that use needs."""

    PACKET_SIGNING = PACKET_SIGNING
    RECEIPT_SIGNING = RECEIPT_SIGNING
    TLS_CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH


class CrlError(CryptoError):
    """A CRL that cannot be used: not a CRL, or not signed by the CA it names."""

    code = "bad-crl"


class TrustStore:
    """Trust anchors (the CAs whose certificates end a chain, or a pinned end certificate),
    optional untrusted intermediates, and CRLs.

    Each CRL must be signed by a CA of the store that it names as its issuer: one that is not is
    refused here (:class:`CrlError`), never skipped, since a skipped CRL revokes nothing.  A CRL
    past its nextUpdate is still applied (what it revokes stays revoked); ``stale_crl`` says whether
    that is only logged (``"warn"``) or refuses every path through its CA (``"refuse"``) until a
    fresh CRL is loaded."""

    def __init__(self, anchors: Iterable[x509.Certificate], *, intermediates: Iterable[x509.Certificate] = (),
                 crls: Iterable[x509.CertificateRevocationList] = (), stale_crl: str = "warn") -> None:
        self.anchors = list(anchors)
        if not self.anchors:
            raise ValueError("a trust store needs at least one trust anchor")
        if stale_crl not in ("warn", "refuse"):
            raise ValueError(f"stale_crl must be 'warn' or 'refuse', not {stale_crl!r}")
        self.intermediates = list(intermediates)
        self.crls = [self._checked(crl) for crl in crls]
        self.stale_crl = stale_crl
        self._store = verification.Store(self.anchors)

    def _checked(self, crl: x509.CertificateRevocationList) -> x509.CertificateRevocationList:
        issuers = [c for c in (*self.anchors, *self.intermediates) if c.subject == crl.issuer]
        if not issuers:
            raise CrlError(f"the CRL of {crl.issuer.rfc4514_string()} names no CA of this trust store")
        if not any(crl.is_signature_valid(issuer.public_key()) for issuer in issuers):  # type: ignore[arg-type]
            raise CrlError(f"the CRL of {crl.issuer.rfc4514_string()} is not signed by that CA")
        return crl

    def verify(self, leaf: x509.Certificate, *, at: datetime, usage: Usage,
               intermediates: Sequence[x509.Certificate] = (), now: datetime | None = None) -> list[x509.Certificate]:
        """The validated chain from ``leaf`` to an anchor at ``at`` for ``usage``.

        :class:`CertificateExpired` when a certificate on the way is not valid at ``at``,
        :class:`UnknownSigner` when no valid path reaches an anchor (the validator's reason in
        the message), :class:`CertificateRevoked` when a certificate of the chain is on a CRL,
        :class:`StaleCrl` when a CRL of the chain is past its nextUpdate at ``now`` and the store
        refuses stale CRLs."""
        extra = [*intermediates, *self.intermediates]
        policy = (verification.PolicyBuilder().store(self._store).time(at).max_chain_depth(MAX_CHAIN)
                  .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                                      ee_policy=_end_entity_policy(usage)))
        try:
            chain = list(policy.build_client_verifier().verify(leaf, extra).chain)
        except verification.VerificationError as error:
            for certificate in _named_path(leaf, [*extra, *self.anchors]):
                if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
                    raise CertificateExpired(
                        f"{certificate.subject.rfc4514_string()} valid {certificate.not_valid_before_utc:%Y-%m-%d} "
                        f"to {certificate.not_valid_after_utc:%Y-%m-%d}, not at {at:%Y-%m-%d %H:%M}Z") from None
            raise UnknownSigner(f"{leaf.subject.rfc4514_string()} is not trusted for {usage.name.lower()}: "
                                f"{error}") from None
        self._check_revocation(chain, now or datetime.now(UTC))
        return chain

    def _check_revocation(self, chain: list[x509.Certificate], now: datetime) -> None:
        for certificate, issuer in zip(chain, chain[1:], strict=False):
            for crl in self.crls:
                if crl.issuer != issuer.subject:
                    continue
                if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
                    raise CertificateRevoked(f"{certificate.subject.rfc4514_string()} is revoked")
                if crl.next_update_utc is not None and crl.next_update_utc < now:
                    message = (f"the CRL of {crl.issuer.rfc4514_string()} was due for renewal at "
                               f"{crl.next_update_utc:%Y-%m-%d %H:%M}Z")
                    if self.stale_crl == "refuse":
                        raise StaleCrl(f"{message}; load a fresh CRL")
                    log.warning("%s; its revocations are still applied", message)


def _end_entity_policy(usage: Usage) -> verification.ExtensionPolicy:
    """The end certificate: digitalSignature, not a CA, and ``usage``'s extended key usage."""

    def key_usage(_policy: Any, _certificate: x509.Certificate, value: x509.KeyUsage | None) -> None:
        if value is None or not value.digital_signature:
            raise ValueError("keyUsage lacks digitalSignature")

    def extended(_policy: Any, _certificate: x509.Certificate, value: x509.ExtendedKeyUsage | None) -> None:
        if value is None or usage.value not in list(value):
            raise ValueError(f"extendedKeyUsage lacks {usage.name.lower()} ({usage.value.dotted_string})")

    def not_a_ca(_policy: Any, _certificate: x509.Certificate, value: x509.BasicConstraints | None) -> None:
        if value is not None and value.ca:
            raise ValueError("a CA certificate signs certificates, not packets, receipts or TLS sessions")

    agnostic = verification.Criticality.AGNOSTIC
    return (verification.ExtensionPolicy.permit_all()
            .require_present(x509.KeyUsage, agnostic, key_usage)
            .require_present(x509.ExtendedKeyUsage, agnostic, extended)
            .may_be_present(x509.BasicConstraints, agnostic, not_a_ca))


def _named_path(leaf: x509.Certificate, candidates: list[x509.Certificate]) -> list[x509.Certificate]:
    """The leaf and the certificates above it by name alone: what to look at to say which one has
    expired when validation failed (trust is the validator's business, not this walk's)."""
    path, current = [leaf], leaf
    while len(path) <= MAX_CHAIN and current.issuer != current.subject:
        above = [c for c in candidates if c.subject == current.issuer and c not in path]
        if not above:
            break
        path.extend(above)
        current = above[0]
    return path


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL in PEM or DER; :class:`CrlError` if it is neither."""
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as error:
        raise CrlError(f"not a CRL: {error}") from error
