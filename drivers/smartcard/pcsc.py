"""Card readers through PC/SC (pcsc-lite's pcscd on Linux) with pyscard's ``smartcard.scard`` API.

The usual way to reach a reader on Linux: pcscd owns the reader through its IFD handler (libccid
for CCID readers, vpcd for vsmartcard's virtual reader) and any number of programs talk to it by
name.  The card is connected exclusively while it is read (SCARD_SHARE_EXCLUSIVE), so another
program cannot interleave APDUs with our secure-messaging session and break its counter.

Error mapping (pcsc-lite's winscard error codes): no pcscd (SCARD_E_NO_SERVICE) -> DeviceNotFound;
no card (SCARD_E_NO_SMARTCARD) -> NoCard; card gone or reset under us (SCARD_W_REMOVED_CARD,
SCARD_W_RESET_CARD, SCARD_E_NO_SMARTCARD during a transmit) -> CardRemoved; reader gone
(SCARD_E_READER_UNAVAILABLE, SCARD_E_UNKNOWN_READER) -> DeviceDisconnected; another program has
the card (SCARD_E_SHARING_VIOLATION) -> DeviceBusy.
"""

from __future__ import annotations

import logging
import time

from smartcard import scard

from drivers.device import DeviceInfo, DeviceKind, SelfTestResult
from drivers.errors import DeviceBusy, DeviceError, DeviceNotFound, DeviceTimeout, ProtocolError
from drivers.smartcard.base import ATR, CardReader, CardRemoved, NoCard, reader_gone
from drivers.traffic import summary

logger = logging.getLogger(__name__)
traffic = logging.getLogger(__name__ + ".traffic")

#: PC/SC attribute "maximum input" (pcsc-lite reader.h SCARD_ATTR_MAXINPUT): the longest APDU a
#: reader driver takes, which tells whether extended APDUs get through.
SCARD_ATTR_MAXINPUT = 0x0007A007
#: How long pcscd may take to notice an absent card (it polls readers without events every 400 ms).
REMOVAL_NOTICE_S = 1.5
#: How long a just-placed card may take to settle in pcscd before connecting is judged to fail.
SETTLE_S = 2.0
_REMOVED = {scard.SCARD_W_REMOVED_CARD, scard.SCARD_W_RESET_CARD, scard.SCARD_E_NO_SMARTCARD}
_READER_GONE = {scard.SCARD_E_READER_UNAVAILABLE, scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_NO_SERVICE,
                scard.SCARD_E_SERVICE_STOPPED}


def _message(code: int) -> str:
    return f"{scard.SCardGetErrorMessage(code)} (0x{code & 0xFFFFFFFF:08X})"


def list_readers() -> list[str]:
    """The readers pcscd knows now (DeviceNotFound when pcscd does not run)."""
    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        raise _no_service(result)
    try:
        result, readers = scard.SCardListReaders(context, [])
        if result == scard.SCARD_E_NO_READERS_AVAILABLE:
            return []
        if result != scard.SCARD_S_SUCCESS:
            raise DeviceError(f"listing readers: {_message(result)}", device="pcscd")
        return list(readers)
    finally:
        scard.SCardReleaseContext(context)


def _no_service(result: int) -> DeviceNotFound:
    return DeviceNotFound(f"pcscd cannot be reached: {_message(result)}", device="pcscd",
                          hint="Start pcscd (systemctl start pcscd.socket) and check `pcsc_scan` lists the reader.")


class PcscReader(CardReader):
    """The first PC/SC reader whose name contains ``reader`` (any reader if empty)."""

    def __init__(self, reader: str = "", *, extended: bool | None = None) -> None:
        self.wanted = reader
        self._extended = extended
        self._context: int | None = None
        self._card: int | None = None
        self._protocol = 0
        self.reader = ""

    def open(self) -> None:
        if self._context is not None:
            return
        result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
        if result != scard.SCARD_S_SUCCESS:
            raise _no_service(result)
        result, readers = scard.SCardListReaders(context, [])
        if result not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_NO_READERS_AVAILABLE):
            scard.SCardReleaseContext(context)
            raise DeviceError(f"listing readers: {_message(result)}", device="pcscd")
        matching = [r for r in (readers if result == scard.SCARD_S_SUCCESS else []) if self.wanted in r]
        if not matching:
            scard.SCardReleaseContext(context)
            known = ", ".join(readers) if result == scard.SCARD_S_SUCCESS and readers else "none"
            raise DeviceNotFound(f"no PC/SC reader named like {self.wanted!r} (readers: {known})", device="pcscd",
                                 hint="Plug the reader in and check `pcsc_scan`; correct [devices.card_reader] "
                                      "reader = ... in the configuration.")
        self._context, self.reader = context, matching[0]
        logger.debug("opened PC/SC reader %r", self.reader)

    def close(self) -> None:
        if self._context is None:
            return
        self.power_off()
        scard.SCardReleaseContext(self._context)
        self._context = None

    @property
    def name(self) -> str:
        return self.reader or f"PC/SC reader {self.wanted!r}"

    def info(self) -> DeviceInfo:
        self.open()
        return DeviceInfo(DeviceKind.CARD_READER, self.reader, f"pcsc:{self.reader}", vendor="PC/SC")

    def self_test(self) -> SelfTestResult:
        checks: dict[str, str] = {}
        try:
            checks["reader"] = self.info().model
            checks["slot"] = "card present" if self.card_present() else "no card"
        except DeviceError as exc:
            return SelfTestResult(passed=False, checks=checks, problem=str(exc))
        return SelfTestResult(passed=True, checks=checks)

    def card_present(self) -> bool:
        self.open()
        result, states = scard.SCardGetStatusChange(self._context, 0, [(self.reader, scard.SCARD_STATE_UNAWARE)])
        if result == scard.SCARD_E_TIMEOUT:
            return False
        if result in _READER_GONE:
            raise reader_gone(f"asking for the card: {_message(result)}", self.name)
        if result != scard.SCARD_S_SUCCESS:
            raise DeviceError(f"asking for the card: {_message(result)}", device=self.name)
        return bool(states[0][1] & scard.SCARD_STATE_PRESENT)

    def power_on(self) -> ATR:
        self.open()
        self.power_off()
        deadline = time.monotonic() + SETTLE_S
        while True:
            result, card, protocol = scard.SCardConnect(self._context, self.reader, scard.SCARD_SHARE_EXCLUSIVE,
                                                        scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            # Just after a card is swapped, pcscd may still hold the old card's state until its
            # next poll of the reader (unpowered / reset): ask again until it settles.
            if result not in (scard.SCARD_W_UNPOWERED_CARD, scard.SCARD_W_RESET_CARD) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if result in (scard.SCARD_E_NO_SMARTCARD, scard.SCARD_W_REMOVED_CARD):
            raise NoCard(f"no card to connect to: {_message(result)}", device=self.name)
        if result == scard.SCARD_E_SHARING_VIOLATION:
            raise DeviceBusy("another program is using the card", device=self.name)
        if result in (scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_E_TIMEOUT):
            raise DeviceTimeout(f"the card does not answer: {_message(result)}", device=self.name)
        if result in _READER_GONE:
            raise reader_gone(f"connecting: {_message(result)}", self.name)
        if result != scard.SCARD_S_SUCCESS:
            raise DeviceError(f"connecting to the card: {_message(result)}", device=self.name)
        self._card, self._protocol = card, protocol
        result, _, _, _, atr = scard.SCardStatus(card)
        if result != scard.SCARD_S_SUCCESS:
            raise self._transmit_error(result, "reading the ATR")
        return ATR.parse(bytes(atr), device=self.name)

    def power_off(self) -> None:
        if self._card is None:
            return
        card, self._card = self._card, None
        result = scard.SCardDisconnect(card, scard.SCARD_UNPOWER_CARD)
        if result != scard.SCARD_S_SUCCESS:
            logger.debug("%s: disconnect: %s", self.name, _message(result))

    @property
    def supports_extended(self) -> bool:
        """As configured, else whether the reader driver's maximum input exceeds a short APDU."""
        if self._extended is not None:
            return self._extended
        if self._card is None:
            return False
        result, value = scard.SCardGetAttrib(self._card, SCARD_ATTR_MAXINPUT)
        if result != scard.SCARD_S_SUCCESS or not value:
            return False
        return int.from_bytes(bytes(value[:4]), "little") > 261

    def exchange(self, command: bytes) -> bytes:
        if self._card is None:
            raise NoCard("the card is not connected", device=self.name)
        traffic.debug("> %s", summary(command, head=5))  # CLA INS P1 P2 Lc
        result, response = scard.SCardTransmit(self._card, self._protocol, list(command))
        if result != scard.SCARD_S_SUCCESS:
            raise self._transmit_error(result, "exchanging an APDU")
        traffic.debug("< %s", summary(bytes(response), head=0, tail=2))
        if not response:
            # vpcd answers an APDU whose card has gone with zero bytes instead of an error code;
            # pcscd notices the card is absent at its next poll of the reader.
            if self._card_gone_within(REMOVAL_NOTICE_S):
                self._card = None
                raise CardRemoved("the card left the reader during an exchange", device=self.name)
            raise ProtocolError("the reader returned an empty response (no status word)", device=self.name)
        return bytes(response)

    def _card_gone_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for pcscd to report the slot empty."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.card_present():
                return True
            time.sleep(0.05)
        return False

    def _transmit_error(self, result: int, what: str) -> DeviceError:
        if result in _REMOVED:
            self._card = None
            return CardRemoved(f"{what}: {_message(result)}", device=self.name)
        if result in _READER_GONE:
            self._card = None
            return reader_gone(f"{what}: {_message(result)}", self.name)
        if result in (scard.SCARD_W_UNRESPONSIVE_CARD, scard.SCARD_E_TIMEOUT):
            return DeviceTimeout(f"{what}: {_message(result)}", device=self.name)
        return ProtocolError(f"{what}: {_message(result)}", device=self.name)
