"""CSCA trust store: which Country Signing CAs vouch for a Document Signer (ICAO 9303-11 §5.1, the
certificate step of passive authentication), and their CRLs if any.

The registry's own PKI (stations, receipts, TLS clients) is checked by :mod:`crypto.trust` with
cryptography's RFC 5280 / Web PKI verifier.  ICAO chains are not: 9303-12's profile differs from
the Web PKI's (countries sign with brainpool curves, RSA-PSS with their own parameters, SHA-1 in
older CSCAs, all of which that verifier refuses by design), and the chain is one step (CSCA →
Document Signer).  So the check here is explicit: the Document Signer must be issued by a CSCA of
the store (name and signature), the CSCA must say ``cA=TRUE``, every certificate must be valid at
the time of reading, and none may be on a configured CRL (RFC 5280 §6.3, simplified to one CRL per
issuing CA).

A name can belong to several certificates: a CA re-certified with the same key, or a new key under
the same name (ICAO 9303-12 link certificates put both in one master list).  So every issuer that
fits is tried, and the first chain that is valid at that time wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from crypto.errors import CertificateExpired, CertificateRevoked, UnknownSigner

MAX_CHAIN = 5


class CscaStore:
    """Trust anchors (the CSCAs, self-signed or link certificates), optional untrusted intermediates and CRLs."""

    def __init__(self, anchors: Iterable[x509.Certificate], *, intermediates: Iterable[x509.Certificate] = (),
                 crls: Iterable[x509.CertificateRevocationList] = ()) -> None:
        self.anchors = list(anchors)
        if not self.anchors:
            raise ValueError("a CSCA store needs at least one CSCA certificate")
        self.intermediates = list(intermediates)
        self.crls = list(crls)

    def verify(self, leaf: x509.Certificate, *, at: datetime,
               intermediates: Sequence[x509.Certificate] = ()) -> list[x509.Certificate]:
        """The chain from ``leaf`` to an anchor, each valid at ``at``; raises a typed :class:`PacketError`.

        :class:`UnknownSigner` when no chain reaches an anchor (the message says, for each issuer
        tried, why not), :class:`CertificateExpired` when chains exist but none is valid at ``at``
        (the first one's reason), :class:`CertificateRevoked` when a chain valid at ``at`` has a
        revoked certificate - a revoked certificate is not rescued by another path.
        """
        candidates = [*self.anchors, *intermediates, *self.intermediates]
        problems: list[str] = []
        expired: CertificateExpired | None = None
        for chain in self._chains([leaf], candidates, problems):
            try:
                _check_validity(chain, at)
            except CertificateExpired as error:
                expired = expired or error
                continue
            self._check_revocation(chain)
            return chain
        if expired is not None:
            raise expired
        raise UnknownSigner("; ".join(problems))

    def _is_anchor(self, certificate: x509.Certificate) -> bool:
        return any(certificate == anchor for anchor in self.anchors)

    def _chains(self, chain: list[x509.Certificate], candidates: list[x509.Certificate],
                problems: list[str]) -> Iterator[list[x509.Certificate]]:
        """Every chain from ``chain`` up to an anchor, depth first; why each dead end is one goes to ``problems``."""
        current = chain[-1]
        if self._is_anchor(current):
            yield chain
            return
        if len(chain) > MAX_CHAIN:
            problems.append("certificate chain too long")
            return
        subject = current.subject.rfc4514_string()
        named = [c for c in candidates if c.subject == current.issuer and c not in chain]
        if not named:
            problems.append(f"no trusted issuer named {current.issuer.rfc4514_string()} for {subject}")
        for issuer in named:
            which = f"{issuer.subject.rfc4514_string()} (serial {issuer.serial_number:x})"
            try:
                current.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm) as error:
                problems.append(f"{subject} is not signed by {which}: {str(error) or 'bad signature'}")
                continue
            if not is_ca(issuer):
                problems.append(f"{which} is not a CA")
                continue
            yield from self._chains([*chain, issuer], candidates, problems)

    def _check_revocation(self, chain: list[x509.Certificate]) -> None:
        for certificate, issuer in zip(chain, chain[1:], strict=False):
            for crl in self.crls:
                if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                    continue
                if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
                    raise CertificateRevoked(f"{certificate.subject.rfc4514_string()} is revoked")


def _check_validity(chain: list[x509.Certificate], at: datetime) -> None:
    for certificate in chain:
        if not certificate.not_valid_before_utc <= at <= certificate.not_valid_after_utc:
            raise CertificateExpired(
                f"{certificate.subject.rfc4514_string()} valid {certificate.not_valid_before_utc:%Y-%m-%d} to "
                f"{certificate.not_valid_after_utc:%Y-%m-%d}, not at {at:%Y-%m-%d %H:%M}Z")


def is_ca(certificate: x509.Certificate) -> bool:
    """Whether ``certificate`` may issue certificates: basic constraints ``cA=TRUE`` (RFC 5280 §4.2.1.9)."""
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False
