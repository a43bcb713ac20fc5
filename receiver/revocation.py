"""The receiver's station trust: the station CA and its CRL, applied to the packets' signers *and* to
the TLS client certificates, and reloaded when the CRL file changes, without a restart.

Each upload's client certificate is also checked by the app against the same trust store (so a
stale CRL follows the configured policy there, where OpenSSL would refuse every client).  A CRL
that does not verify (or does not parse) is refused: at start the receiver does not start;
later, the previous CRL stays in force and the error is logged every time the file is looked at
again, until a good one replaces it.  The file is looked at (one ``stat``) before each packet and
each TLS handshake, so a new CRL takes effect for the next connection.  For TLS, the server's
context is swapped per handshake (``sni_callback``: OpenSSL calls it for every ClientHello, with or
without a server name), because an ``SSLContext`` cannot drop a CRL once loaded.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from crypto.errors import CryptoError
from crypto.keys import load_certificates
from crypto.trust import TrustStore, load_crl

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsFiles:
    """The receiver's own TLS certificate and key, and the station CA its clients must chain to."""

    certificate: Path
    key: Path
    station_ca: Path


class StationTrust:
    """The current :class:`TrustStore` for packet signers and :class:`ssl.SSLContext` for clients."""

    def __init__(self, tls: TlsFiles, crl: Path | None, *, stale_crl: str = "warn") -> None:
        self._tls, self._crl_path, self._stale_crl = tls, crl, stale_crl
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._crl_pem: str | None = None
        self._trust, self._context = self._load()  # a bad CRL at start: the receiver does not start
        self._seen = self._stamp()

    def trust(self) -> TrustStore:
        """The trust store for packet signers, with the newest good CRL."""
        self.refresh()
        return self._trust

    def context(self) -> ssl.SSLContext:
        """The TLS context for new connections, with the newest good CRL."""
        self.refresh()
        return self._context

    def server_context(self) -> ssl.SSLContext:
        """The context to give the server: it hands every handshake to :meth:`context`'s current one."""
        # The verification flags (CRL checking) are the connection's, copied from this first context;
        # the certificates and CRLs it checks against are the swapped-in context's store.
        context = self._make_context(self._crl_pem)

        def swap(connection: ssl.SSLObject, _server_name: str | None, _context: ssl.SSLContext) -> None:
            connection.context = self.context()

        context.sni_callback = swap  # type: ignore[assignment]
        return context

    def refresh(self) -> None:
        stamp = self._stamp()
        if stamp == self._seen:
            return
        with self._lock:
            if stamp == self._seen:
                return
            try:
                self._trust, self._context = self._load()
                log.info("CRL %s loaded", self._crl_path)
            except (CryptoError, OSError) as error:
                log.error("CRL %s refused, the previous one stays in force: %s", self._crl_path, error)
            self._seen = stamp

    def _stamp(self) -> tuple[int, int] | None:
        if self._crl_path is None:
            return None
        try:
            status = self._crl_path.stat()
        except OSError:
            return (-1, -1)
        return status.st_mtime_ns, status.st_size

    def _load(self) -> tuple[TrustStore, ssl.SSLContext]:
        anchors = load_certificates(self._tls.station_ca)
        if self._crl_path is None:
            return TrustStore(anchors), self._make_context(None)
        crl = load_crl(self._crl_path.read_bytes())
        trust = TrustStore(anchors, crls=[crl], stale_crl=self._stale_crl)  # checks the CRL's signature
        if crl.next_update_utc is not None and crl.next_update_utc < datetime.now(UTC):
            # OpenSSL refuses every client under a CRL past its nextUpdate; the configured policy is the
            # app's to apply (receiver/app.py checks each client certificate against this trust store).
            log.warning("CRL %s is past its nextUpdate: the TLS layer does not apply it, uploads are checked "
                        "against it by the stale-CRL policy (%s)", self._crl_path, self._stale_crl)
            self._crl_pem = None
        else:
            self._crl_pem = crl.public_bytes(Encoding.PEM).decode()
        return trust, self._make_context(self._crl_pem)

    def _make_context(self, crl_pem: str | None) -> ssl.SSLContext:
        """TLS with a client certificate required, the station CA as its anchor by itself, and the CRL.

        OpenSSL normally insists on a chain ending at a self-signed root; ``VERIFY_X509_PARTIAL_CHAIN``
        lets the station CA (an intermediate) be the anchor, so that certificates the same root issued
        for other purposes can never pass as a station's.  With a CRL, ``VERIFY_CRL_CHECK_LEAF``
        refuses a revoked station's handshake (RFC 5280 §6.3 on the leaf, whose issuer is the station CA).
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self._tls.certificate), str(self._tls.key))
        context.load_verify_locations(cafile=str(self._tls.station_ca))
        context.verify_mode = ssl.CERT_REQUIRED
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        if crl_pem is not None:
            # Python takes CRLs only from a file (OpenSSL's X509_load_cert_crl_file reads both kinds).
            with tempfile.NamedTemporaryFile("w", suffix=".pem") as crl_file:
                crl_file.write(crl_pem)
                crl_file.flush()
                context.load_verify_locations(cafile=crl_file.name)
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        return context
