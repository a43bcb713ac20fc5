"""The one interface every smart-card reader driver implements, and the APDU and ATR types it carries.

Encodings follow ISO/IEC 7816-4 section 5.1 (command-response pairs, cases 1-4 in short and extended
form) and ISO/IEC 7816-3 section 8.2 (answer-to-reset).  Status-word handling that every reader
needs is done once here, in :meth:`CardReader.transmit`:

* ``61 xx`` - more response data is waiting: fetch it with GET RESPONSE (``00 C0 00 00 xx``) and
  concatenate, as ISO/IEC 7816-4 5.3.4 / 7.6.1 describe (``xx = 00`` means 256 or more bytes);
* ``6C xx`` - wrong Le, the card says ``xx`` bytes are available: resend the same command with
  ``Le = xx`` once.
"""

from __future__ import annotations

import abc
import threading
import time
from dataclasses import dataclass

from drivers.device import Device
from drivers.errors import N_, Cancelled, DeviceDisconnected, DeviceError, DeviceTimeout, ProtocolError

#: The largest Le a short APDU can ask for (Le byte 00) and an extended one (Le bytes 0000).
SHORT_MAX_LE = 256
EXTENDED_MAX_LE = 65536
#: Rounds of GET RESPONSE accepted for one command before the card is judged to be looping.
MAX_GET_RESPONSE_ROUNDS = 300


class CardRemoved(DeviceError):
    """The card left the reader's field (or slot) while it was being read."""

    citizen_message = N_("The card was taken away from the reader. Please put it back and hold it still.")
    technician_hint = "The card left the field during an exchange; if it repeats, check the reader's antenna position."


class NoCard(DeviceError):
    """A command needs a card, and there is none in the reader."""

    citizen_message = N_("Please place your card on the reader.")
    technician_hint = "No card is present in the reader's slot or field."


@dataclass(frozen=True)
class CommandAPDU:
    """A command APDU (ISO/IEC 7816-4 5.1).  ``le`` is the number of response bytes expected:
    None for none (cases 1 and 3), 1..65536 otherwise (256 = short ``00``, 65536 = extended ``0000``)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            if not 0 <= getattr(self, name) <= 0xFF:
                raise ValueError(f"{name} must be a byte, not {getattr(self, name)}")
        if len(self.data) > 65535:
            raise ValueError(f"{len(self.data)} data bytes do not fit a command APDU (at most 65535)")
        if self.le is not None and not 1 <= self.le <= EXTENDED_MAX_LE:
            raise ValueError(f"Le must be 1..65536 or None, not {self.le}")

    @property
    def needs_extended(self) -> bool:
        """Whether only the extended form can carry this command (Lc > 255 or Le > 256)."""
        return len(self.data) > 255 or (self.le is not None and self.le > SHORT_MAX_LE)

    def to_bytes(self, *, extended: bool | None = None) -> bytes:
        """The encoding: short unless ``extended`` is True or the command needs the extended form."""
        extended = self.needs_extended if extended is None else extended
        if self.needs_extended and not extended:
            raise ValueError("this command needs the extended length form")
        header = bytes([self.cla, self.ins, self.p1, self.p2])
        if not extended:
            body = bytes([len(self.data)]) + self.data if self.data else b""
            if self.le is not None:
                body += bytes([self.le % 256])
            return header + body
        body = b"\x00" + len(self.data).to_bytes(2, "big") + self.data if self.data else b""
        if self.le is not None:
            le = (self.le % EXTENDED_MAX_LE).to_bytes(2, "big")
            body += le if self.data else b"\x00" + le
        return header + body

    def with_le(self, le: int) -> CommandAPDU:
        return CommandAPDU(self.cla, self.ins, self.p1, self.p2, self.data, le)

    def __str__(self) -> str:
        return self.to_bytes(extended=self.needs_extended).hex(" ").upper()


@dataclass(frozen=True)
class ResponseAPDU:
    """A response APDU: data then the two status bytes SW1 SW2."""

    data: bytes
    sw1: int
    sw2: int

    @classmethod
    def from_bytes(cls, raw: bytes, *, device: str | None = None) -> ResponseAPDU:
        """Split ``raw``; fewer than two bytes is a ProtocolError (no status word to read)."""
        if len(raw) < 2:
            raise ProtocolError(f"response of {len(raw)} byte(s) has no status word ({raw.hex()})", device=device)
        return cls(bytes(raw[:-2]), raw[-2], raw[-1])

    @property
    def sw(self) -> int:
        return self.sw1 << 8 | self.sw2

    @property
    def ok(self) -> bool:
        """SW 9000: normal processing."""
        return self.sw == 0x9000

    def to_bytes(self) -> bytes:
        return self.data + bytes([self.sw1, self.sw2])

    def __str__(self) -> str:
        return f"{self.data.hex().upper()} {self.sw:04X}" if self.data else f"{self.sw:04X}"


@dataclass(frozen=True)
class ATR:
    """An answer-to-reset, parsed per ISO/IEC 7816-3 8.2 far enough to name its protocols and
    historical bytes.  Contactless readers synthesise one (PC/SC part 3, 3.1.3.2.3), so a
    contactless eMRTD shows up as ``3B 8n 80 01 ...``."""

    raw: bytes
    protocols: tuple[int, ...]
    historical_bytes: bytes

    @classmethod
    def parse(cls, raw: bytes, *, device: str | None = None) -> ATR:
        """Parse and check ``raw`` (TS, T0, interface bytes, historical bytes, TCK); a malformed
        ATR is a ProtocolError naming what is wrong."""
        raw = bytes(raw)

        def fail(what: str) -> ProtocolError:
            return ProtocolError(f"malformed ATR {raw.hex(' ')}: {what}", device=device)

        if len(raw) < 2:
            raise fail("shorter than TS and T0")
        if raw[0] not in (0x3B, 0x3F):
            raise fail(f"TS is 0x{raw[0]:02X}, expected 3B (direct) or 3F (inverse)")
        index, y, historical_count = 2, raw[1] >> 4, raw[1] & 0x0F
        protocols: list[int] = []
        while y:
            for bit in (0x1, 0x2, 0x4):  # TA, TB, TC present
                if y & bit:
                    index += 1
            if y & 0x8:  # TD present: its low nibble is the next protocol
                if index >= len(raw):
                    raise fail("interface bytes run past the end")
                td = raw[index]
                index += 1
                protocols.append(td & 0x0F)
                y = td >> 4
            else:
                y = 0
        if index + historical_count > len(raw):
            raise fail(f"T0 announces {historical_count} historical bytes, {len(raw) - index} left")
        historical = raw[index : index + historical_count]
        rest = raw[index + historical_count :]
        # TCK is present unless T=0 is the only protocol indicated (ISO/IEC 7816-3 8.2.5).
        if any(p != 0 for p in protocols):
            if len(rest) != 1:
                raise fail(f"expected one TCK byte after the historical bytes, found {len(rest)}")
            check = 0
            for byte in raw[1:]:
                check ^= byte
            if check:
                raise fail("TCK does not check (XOR of T0..TCK is not 0)")
        elif rest:
            raise fail(f"{len(rest)} unexpected byte(s) after the historical bytes")
        return cls(raw, tuple(dict.fromkeys(protocols or [0])), historical)

    @property
    def extended_length(self) -> bool:
        """Whether the card says it takes extended Lc and Le fields: the third byte of its card
        capabilities (compact-TLV tag 7 in historical bytes that start with category indicator 80),
        bit b7 (ISO/IEC 7816-4 8.1.1.2.7, table 87).  False when the ATR does not say."""
        data = self.historical_bytes
        if not data or data[0] != 0x80:
            return False
        index = 1
        while index < len(data):
            tag, length = data[index] >> 4, data[index] & 0x0F
            value = data[index + 1 : index + 1 + length]
            if tag == 0x7 and len(value) >= 3:
                return bool(value[2] & 0x40)
            index += 1 + length
        return False

    def __str__(self) -> str:
        return self.raw.hex(" ").upper()


class CardReader(Device):
    """A smart-card reader with one slot (or one contactless field).  Use as a context manager.

    Subclasses implement :meth:`open`, :meth:`close`, :meth:`info`, :meth:`self_test`,
    :meth:`card_present`, :meth:`power_on`, :meth:`power_off` and :meth:`exchange` (one raw APDU
    round trip); waiting for a card and status-word handling are common to all of them.  Any
    operation on a card that has gone raises :class:`CardRemoved`.
    """

    #: How often :meth:`wait_for_card` asks the reader.
    poll_interval_s: float = 0.05

    @abc.abstractmethod
    def card_present(self) -> bool:
        """Ask the reader once whether a card is in its slot or field."""

    @abc.abstractmethod
    def power_on(self) -> ATR:
        """Activate the card and return its ATR.  NoCard if there is none."""

    @abc.abstractmethod
    def power_off(self) -> None:
        """Deactivate the card (quiet if it is already gone)."""

    @property
    @abc.abstractmethod
    def supports_extended(self) -> bool:
        """Whether the reader carries extended-length APDUs."""

    @abc.abstractmethod
    def exchange(self, command: bytes) -> bytes:
        """Send one encoded command APDU to the powered card, return the raw response APDU."""

    @property
    def name(self) -> str:
        return self.info().model

    def transmit(self, command: CommandAPDU) -> ResponseAPDU:
        """Send ``command`` and return the complete response, after GET RESPONSE rounds (61xx)
        and one resend with the Le the card asks for (6Cxx)."""
        extended = command.needs_extended
        if extended and not self.supports_extended:
            raise ProtocolError(f"command {command} needs extended length, which this reader does not carry",
                                device=self.name,
                                hint="Use a reader whose CCID descriptor announces extended APDUs, "
                                     "or read in short chunks.")
        response = ResponseAPDU.from_bytes(self.exchange(command.to_bytes(extended=extended)), device=self.name)
        if response.sw1 == 0x6C:
            response = ResponseAPDU.from_bytes(
                self.exchange(command.with_le(response.sw2 or 256).to_bytes(extended=extended)), device=self.name)
        data = bytearray(response.data)
        rounds = 0
        while response.sw1 == 0x61:
            rounds += 1
            if rounds > MAX_GET_RESPONSE_ROUNDS:
                raise ProtocolError(f"card kept answering 61xx after {MAX_GET_RESPONSE_ROUNDS} GET RESPONSE",
                                    device=self.name)
            get_response = CommandAPDU(command.cla & 0x03, 0xC0, 0x00, 0x00, le=response.sw2 or 256)
            response = ResponseAPDU.from_bytes(self.exchange(get_response.to_bytes()), device=self.name)
            data += response.data
        return ResponseAPDU(bytes(data), response.sw1, response.sw2)

    def wait_for_card(self, timeout: float, cancel: threading.Event | None = None) -> None:
        """Return once a card is present.  Raises :class:`Cancelled` within one poll interval of
        ``cancel`` being set, :class:`DeviceTimeout` after ``timeout`` seconds without a card."""
        cancel = cancel or threading.Event()
        deadline = time.monotonic() + timeout
        while True:
            if cancel.is_set():
                raise Cancelled("waiting for a card was cancelled")
            if self.card_present():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"no card placed within {timeout:g} s", device=self.name,
                                    hint="Nobody put a card on the reader; if one was there, check the reader.")
            cancel.wait(min(self.poll_interval_s, remaining))


READER_GONE_HINT = "Reconnect the card reader; then run `enrol diag`."


def reader_gone(detail: str, device: str) -> DeviceDisconnected:
    """The error for a reader (not a card) that went away, shared by the drivers."""
    return DeviceDisconnected(detail, device=device, hint=READER_GONE_HINT)
