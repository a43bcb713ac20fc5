"""Secure messaging after BAC (ICAO Doc 9303-11 9.8, worked example in Appendix D.4).

Command: ``CLA | 0x0C``; the data, padded (method 2) and encrypted with KSenc, travels in DO87
(``87 L 01 || cryptogram``); Le travels in DO97; DO8E carries the MAC (KSmac, MAC algorithm 3) over
``SSC || pad(CLA INS P1 P2) || DO87 || DO97``.  The protected APDU asks for Le ``00`` (``0000``
when it is extended).  Response: DO87 (data), DO99 (the status word) and DO8E (the MAC over
``SSC || DO87 || DO99``).  The send sequence counter is incremented before each command and before
each response is checked, so one lost or replayed message breaks every MAC after it - which is the
point: a chip answer that does not check ends the session (9303-11 9.8.6).  What real chips do
besides (no DO99, errors outside secure messaging) is in :meth:`SecureMessaging.unprotect`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from capture.document import bac
from capture.document.tlv import TlvError, encode_tlv, iter_tlvs
from drivers.errors import N_, ExplainedError
from drivers.smartcard.base import EXTENDED_MAX_LE, SHORT_MAX_LE, CardReader, CommandAPDU, ResponseAPDU


class SecureMessagingError(ExplainedError):
    """A protected response that does not check (MAC, structure or padding): the session is over."""

    citizen_message = N_("The card's answer could not be verified. Please hold the card still and try again.")
    technician_hint = "A secure-messaging MAC or structure failed; the chip session was abandoned."


class UnauthenticatedData(SecureMessagingError):
    """A protected response whose data carries no MAC (e.g. vicc's 6282 warning): unusable.
    ``length`` is the size of its cryptogram less the padding indicator - a hint, not data."""

    def __init__(self, detail: str, *, sw: int, length: int) -> None:
        self.sw = sw
        self.length = length
        super().__init__(detail)


@dataclass(frozen=True)
class UnauthenticatedStatus(ResponseAPDU):
    """An error status word the chip sent outside secure messaging (no MAC): good only to fail on."""


class SecureMessaging:
    """One secure-messaging session: the keys and the send sequence counter (SSC)."""

    def __init__(self, ks_enc: bytes, ks_mac: bytes, ssc: bytes) -> None:
        self.ks_enc = ks_enc
        self.ks_mac = ks_mac
        self.ssc = int.from_bytes(ssc, "big")

    @classmethod
    def from_session(cls, keys: bac.SessionKeys) -> SecureMessaging:
        return cls(keys.ks_enc, keys.ks_mac, keys.ssc)

    #: Cipher block and SSC size in bytes: 8 for 3DES (BAC, Chip Authentication with 3DES).
    block = bac.BLOCK

    def _next_ssc(self) -> bytes:
        self.ssc = (self.ssc + 1) % (1 << (8 * self.block))
        return self.ssc.to_bytes(self.block, "big")

    def _pad(self, data: bytes) -> bytes:
        padded = data + b"\x80"
        return padded + bytes(-len(padded) % self.block)

    def _encrypt(self, ssc: bytes, data: bytes) -> bytes:
        return bac.encrypt(self.ks_enc, data)

    def _decrypt(self, ssc: bytes, data: bytes) -> bytes:
        return bac.decrypt(self.ks_enc, data)

    def _mac(self, data: bytes) -> bytes:
        """MAC over ``data`` (SSC first), padded here: retail MAC (ISO/IEC 9797-1 algorithm 3)."""
        return bac.retail_mac(self.ks_mac, data)

    def protect(self, command: CommandAPDU) -> CommandAPDU:
        """The protected form of ``command`` (increments the SSC)."""
        cla = command.cla | 0x0C
        header = bytes([cla, command.ins, command.p1, command.p2])
        ssc = self._next_ssc()
        do87 = b""
        if command.data:
            do87 = encode_tlv(0x87, b"\x01" + self._encrypt(ssc, self._pad(command.data)))
        do97 = b""
        extended = command.needs_extended
        if command.le is not None:
            le_bytes = 2 if command.le > SHORT_MAX_LE else 1
            do97 = encode_tlv(0x97, (command.le % (1 << (8 * le_bytes))).to_bytes(le_bytes, "big"))
        mac = self._mac(ssc + self._pad(header) + do87 + do97)
        body = do87 + do97 + encode_tlv(0x8E, mac)
        return CommandAPDU(cla, command.ins, command.p1, command.p2, body,
                           EXTENDED_MAX_LE if extended else SHORT_MAX_LE)

    def unprotect(self, response: ResponseAPDU) -> ResponseAPDU:
        """The plain response inside a protected one (docs/cccd.md, "Secure messaging as chips
        answer it").

        * ``[DO87] [DO99] DO8E`` with a MAC that checks: the plain response.  Without DO99 the
          status word is the response's own trailer (the MAC does not cover it); the data is
          authenticated either way.
        * A bare status word other than 9000 (no SM objects): an error the chip reported outside
          secure messaging - 9303-11 9.8.6.2 for SM errors (6987/6988), vicc and some chips for
          every error.  It is returned as an :class:`UnauthenticatedStatus`, so that the caller
          can only ever use it to *fail* (never to accept data), and it spends no SSC value:
          the chip computed no MAC for it.
        * SM objects without a MAC: :class:`UnauthenticatedData` - the data is never returned.
        """
        if not response.data:
            if response.ok:
                self._next_ssc()
                raise SecureMessagingError("a protected response without secure-messaging objects")
            return UnauthenticatedStatus(b"", response.sw1, response.sw2)
        try:
            objects = list(iter_tlvs(response.data))
        except TlvError as error:
            raise SecureMessagingError(f"malformed protected response: {error}") from error
        tags = [o.tag for o in objects]
        if tags in ([0x87], []) and not response.ok:
            raise UnauthenticatedData(f"SW {response.sw:04X} with data but no MAC", sw=response.sw,
                                      length=len(objects[0].value) - 1 if objects else 0)
        ssc = self._next_ssc()
        if tags not in ([0x87, 0x99, 0x8E], [0x99, 0x8E], [0x87, 0x8E], [0x8E]):
            raise SecureMessagingError(f"protected response has objects {[f'{t:X}' for t in tags]}, "
                                       "expected [87] [99] 8E")
        mac_input = b"".join(response.data[o.start : o.end] for o in objects[:-1])
        if not hmac.compare_digest(self._mac(ssc + mac_input), objects[-1].value):
            raise SecureMessagingError("the response MAC does not check")
        status = objects[-2].value if 0x99 in tags else bytes([response.sw1, response.sw2])
        if len(status) != 2:
            raise SecureMessagingError(f"DO99 holds {len(status)} bytes, expected the 2-byte status word")
        data = b""
        if objects[0].tag == 0x87:
            cryptogram = objects[0].value
            if not cryptogram or cryptogram[0] != 0x01 or (len(cryptogram) - 1) % self.block:
                raise SecureMessagingError("DO87 is not padding-indicator 01 + whole cipher blocks")
            try:
                data = bac.unpad(self._decrypt(ssc, cryptogram[1:]))
            except ValueError as error:
                raise SecureMessagingError(f"decrypted data: {error}") from error
        return ResponseAPDU(data, status[0], status[1])

    def transmit(self, reader: CardReader, command: CommandAPDU) -> ResponseAPDU:
        """Send ``command`` protected over ``reader`` and return the checked plain response."""
        return self.unprotect(reader.transmit(self.protect(command)))


class AesSecureMessaging(SecureMessaging):
    """Secure messaging with AES (after PACE, 9303-11 9.8.6.3 / BSI TR-03110 F.2): a 16-byte SSC
    (0 after PACE), AES-CBC with the IV ``AES(KSenc, SSC)``, padding to 16 bytes, and the MAC the
    first 8 bytes of AES-CMAC(KSmac, SSC || padded data)."""

    block = 16

    def _cipher(self, ssc: bytes) -> Cipher:
        iv_encryptor = Cipher(algorithms.AES(self.ks_enc), modes.ECB()).encryptor()
        return Cipher(algorithms.AES(self.ks_enc), modes.CBC(iv_encryptor.update(ssc) + iv_encryptor.finalize()))

    def _encrypt(self, ssc: bytes, data: bytes) -> bytes:
        encryptor = self._cipher(ssc).encryptor()
        return encryptor.update(data) + encryptor.finalize()

    def _decrypt(self, ssc: bytes, data: bytes) -> bytes:
        decryptor = self._cipher(ssc).decryptor()
        return decryptor.update(data) + decryptor.finalize()

    def _mac(self, data: bytes) -> bytes:
        mac = cmac.CMAC(algorithms.AES(self.ks_mac))
        mac.update(self._pad(data))
        return mac.finalize()[:8]
