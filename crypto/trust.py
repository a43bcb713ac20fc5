"""Trust store: which CAs vouch for stations (or for the receiver's receipts), and the CRL if any.

Chains are short and known (root → station CA → station), so the check is explicit rather than
delegated to a TLS-oriented path builder: each certificate must be issued by the next (signature
checked), CAs must say ``cA=TRUE``, every certificate must be valid at the time that matters
(the signing time for a packet: a station that was offline for a month still delivers what it
signed while its certificate was valid), and the leaf must not be on a configured CRL
(RFC 5280 §6.3, simplified to one CRL per issuing CA).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from crypto.errors import CertificateExpired, CertificateRevoked, UnknownSigner

MAX_CHAIN = 5


class TrustStore:
    """Trust anchors (the CAs whose certificates end a chain), optional untrusted intermediates and CRLs."""

    def __init__(self, anchors: Iterable[x509.Certificate], *, intermediates: Iterable[x509.Certificate] = (),
                 crls: Iterable[x509.CertificateRevocationList] = ()) -> None:
        self.anchors = list(anchors)
        if not self.anchors:
            raise ValueError("a trust store needs at least one trust anchor")
        self.intermediates = list(intermediates)
        self.crls = list(crls)

    def verify(self, leaf: x509.Certificate, *, at: datetime,
               intermediates: Sequence[x509.Certificate] = ()) -> list[x509.Certificate]:
        """The chain from ``leaf`` to an anchor, each valid at ``at``; raises a typed :class:`PacketError`."""
        pool = [*intermediates, *self.intermediates]
        chain = [leaf]
        current = leaf
        while not self._is_anchor(current):
            if len(chain) > MAX_CHAIN:
                raise UnknownSigner("certificate chain too long")
            issuer = self._issuer_of(current, [*self.anchors, *pool])
            if issuer is None:
                raise UnknownSigner(f"no trusted issuer for {current.subject.rfc4514_string()}")
            _require_ca(issuer)
            chain.append(issuer)
            current = issuer
        for certificate in chain:
            if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
                raise CertificateExpired(
                    f"{certificate.subject.rfc4514_string()} valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
                    f"{certificate.not_valid_after_utc:%Y-%m-%d}, not at {at:%Y-%m-%d %H:%M}Z")
        self._check_revocation(chain)
        return chain

    def _is_anchor(self, certificate: x509.Certificate) -> bool:
        return any(certificate == anchor for anchor in self.anchors)

    @staticmethod
    def _issuer_of(certificate: x509.Certificate, candidates: list[x509.Certificate]) -> x509.Certificate | None:
        for candidate in candidates:
            if candidate.subject != certificate.issuer or candidate == certificate:
                continue
            try:
                certificate.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return candidate
        return None

    def _check_revocation(self, chain: list[x509.Certificate]) -> None:
        for certificate, issuer in zip(chain, chain[1:], strict=False):
            for crl in self.crls:
                if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                    continue
                if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
                    raise CertificateRevoked(f"{certificate.subject.rfc4514_string()} is revoked")


def _require_ca(certificate: x509.Certificate) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise UnknownSigner(f"{certificate.subject.rfc4514_string()} is not a CA")


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL in PEM or DER."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_crl(data)
    return x509.load_der_x509_crl(data)
