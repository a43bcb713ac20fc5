"""A USB CCID smart-card reader (a contactless one, for ID cards) on the virtual USB bus, carrying a
simulated chip card.

The reader's side of the CCID specification (USB-IF "Smart Card CCID" rev. 1.1), written from the
specification's message tables (facts in shared/reference/icao9303-and-cccd.md) independently of
the station's driver:

* Interface class 0x0B with the 54-byte CCID class descriptor (type 0x21) after the interface
  descriptor; bulk OUT 0x01, bulk IN 0x82, interrupt IN 0x83.
* Bulk messages carry a 10-byte header: type, dwLength (LE), bSlot, bSeq, three message-specific
  bytes.  PC_to_RDR_IccPowerOn 0x62 -> RDR_to_PC_DataBlock 0x80 with the ATR; IccPowerOff 0x63
  and GetSlotStatus 0x65 -> RDR_to_PC_SlotStatus 0x81; XfrBlock 0x6F -> DataBlock.  Replies echo
  bSeq and carry bStatus (bits 0-1: 0 card present and active, 1 present and inactive, 2 absent;
  bits 6-7: 0 ok, 1 failed, 2 time extension) and bError.
* The interrupt endpoint sends RDR_to_PC_NotifySlotChange (0x50 + two bits per slot: present,
  changed) when a card arrives or leaves.
* The reader exchanges at extended-APDU level by default (dwFeatures 0x00040000), so it passes
  APDUs through whole; ``exchange_level`` can make it a short-APDU or TPDU reader instead.

Timing: ``bit_rate`` makes every APDU take the time its bytes need over the air (ISO/IEC 14443 at
106-848 kbit/s); a chip with ``busy_s`` (a slow card) is covered by time-extension replies every
``extension_interval_s``, as a reader does while it waits for a card's S(WTX) requests.

Faults: :meth:`remove_card` (now, or after a number of APDUs - mid-read), :meth:`corrupt_next`
(a reply with a wrong bSeq, a truncated header, or a wrong length field).
"""

from __future__ import annotations

import threading
import time

from hardware_sim.emrtd import EmrtdChip
from hardware_sim.usb_virtual import (
    EndpointStall,
    VirtualBackend,
    VirtualDevice,
    configuration_descriptor,
    device_descriptor,
    endpoint_descriptor,
    interface_descriptor,
)

#: pid.codes' open-source vendor id with one of its test product ids (https://pid.codes/1209/):
#: no real reader answers to it, so the simulator can never be mistaken for one.
USB_VENDOR_ID = 0x1209
USB_PRODUCT_ID = 0x0007
STRINGS = {1: "Enrolment Station Simulators", 2: "Simulated CCID contactless reader", 3: "SIM-CCID-0001"}

ENDPOINT_OUT = 0x01
ENDPOINT_IN = 0x82
ENDPOINT_INTERRUPT = 0x83

LEVEL_TPDU = 0x00010000
LEVEL_SHORT_APDU = 0x00020000
LEVEL_EXTENDED_APDU = 0x00040000
#: Automatic parameter configuration, activation, voltage, clock, baud rate, parameter and PPS
#: negotiation (dwFeatures bits 1-7): what a contactless reader does by itself.
AUTOMATIC_FEATURES = 0x000000FE

POWER_ON, POWER_OFF, GET_SLOT_STATUS, XFR_BLOCK = 0x62, 0x63, 0x65, 0x6F
DATA_BLOCK, SLOT_STATUS, NOTIFY_SLOT_CHANGE = 0x80, 0x81, 0x50
ICC_ACTIVE, ICC_INACTIVE, ICC_ABSENT = 0, 1, 2
FAILED, TIME_EXTENSION = 0x40, 0x80
ICC_MUTE = 0xFE
CMD_NOT_SUPPORTED = 0x00


def class_descriptor(exchange_level: int, max_message_length: int) -> bytes:
    """The 54-byte CCID class descriptor (CCID 1.1 table 5.1-1)."""
    fields = (
        (0x0110, 2),                 # bcdCCID
        (0, 1),                      # bMaxSlotIndex: one slot
        (0x07, 1),                   # bVoltageSupport: 5 V, 3 V, 1.8 V
        (0x00000002, 4),             # dwProtocols: T=1
        (3580, 4), (3580, 4), (0, 1),        # dwDefaultClock, dwMaximumClock (kHz), bNumClockSupported
        (424000, 4), (848000, 4), (0, 1),    # dwDataRate, dwMaxDataRate (bit/s), bNumDataRatesSupported
        (254, 4),                    # dwMaxIFSD
        (0, 4), (0, 4),              # dwSynchProtocols, dwMechanical
        (exchange_level | AUTOMATIC_FEATURES, 4),  # dwFeatures
        (max_message_length, 4),     # dwMaxCCIDMessageLength
        (0xFF, 1), (0xFF, 1),        # bClassGetResponse, bClassEnvelope: echo the command's class
        (0, 2), (0, 1), (1, 1),      # wLcdLayout, bPINSupport, bMaxCCIDBusySlots
    )
    body = b"".join(value.to_bytes(size, "little") for value, size in fields)
    return bytes([2 + len(body), 0x21]) + body


def descriptors(exchange_level: int, max_message_length: int) -> bytes:
    interface = interface_descriptor(
        0,
        endpoint_descriptor(ENDPOINT_OUT, 0x02, 64),
        endpoint_descriptor(ENDPOINT_IN, 0x02, 64),
        endpoint_descriptor(ENDPOINT_INTERRUPT, 0x03, 8, 16),
        bInterfaceClass=0x0B, extra=class_descriptor(exchange_level, max_message_length),
    )
    return (device_descriptor(idVendor=USB_VENDOR_ID, idProduct=USB_PRODUCT_ID, iManufacturer=1, iProduct=2,
                              iSerialNumber=3)
            + configuration_descriptor(interface))


def _message(kind: int, slot: int, seq: int, status: int, error: int, third: int, data: bytes = b"") -> bytes:
    return bytes([kind]) + len(data).to_bytes(4, "little") + bytes([slot, seq, status, error, third]) + data


class CcidReaderSimulator(VirtualDevice):
    """A one-slot CCID reader; ``insert_card(chip)`` puts a simulated card on it.

    ``sim = CcidReaderSimulator()`` creates its own backend and plugs itself in; pass
    ``sim.backend`` to ``usb.core.find``.
    """

    def __init__(self, backend: VirtualBackend | None = None, *, exchange_level: int = LEVEL_EXTENDED_APDU,
                 bit_rate: float | None = None, extension_interval_s: float = 0.05) -> None:
        max_length = 10 + (65536 + 2 if exchange_level == LEVEL_EXTENDED_APDU else 256 + 5)
        super().__init__(descriptors(exchange_level, max_length), strings=STRINGS)
        self.bit_rate = bit_rate
        self.extension_interval_s = extension_interval_s
        self.chip: EmrtdChip | None = None
        self._powered = False
        self._remove_after: int | None = None
        self._corrupt: str | None = None
        self.apdus = 0
        """Command APDUs carried since the reader was made (for benches and tests)."""
        self.bytes_carried = 0
        """Command plus response APDU bytes carried over the (simulated) air."""
        self.time_extensions = 0
        self.backend: VirtualBackend = backend or VirtualBackend()
        self.backend.attach(self)

    # ---- the card

    def insert_card(self, chip: EmrtdChip) -> None:
        """Put ``chip`` in the field: the reader notifies the slot change on its interrupt endpoint."""
        with self.lock:
            self.chip, self._powered, self._remove_after = chip, False, None
            self.queue_in(ENDPOINT_INTERRUPT, bytes([NOTIFY_SLOT_CHANGE, 0b11]))

    def remove_card(self, *, after_apdus: int | None = None) -> None:
        """Take the card away now, or once ``after_apdus`` more APDUs have been carried."""
        with self.lock:
            if after_apdus is not None:
                self._remove_after = after_apdus
                return
            self._take_away()

    def corrupt_next(self, kind: str) -> None:
        """Break the next bulk reply: ``"sequence"`` (bSeq of another request, sent before the
        real reply, which follows), ``"truncated"`` (6 bytes), ``"length"`` (dwLength too big)."""
        if kind not in ("sequence", "truncated", "length"):
            raise ValueError(f"unknown corruption {kind!r}")
        with self.lock:
            self._corrupt = kind

    def _take_away(self) -> None:
        if self.chip is not None:
            self.chip, self._powered = None, False
            self.queue_in(ENDPOINT_INTERRUPT, bytes([NOTIFY_SLOT_CHANGE, 0b10]))

    # ---- the protocol

    def on_reset(self) -> None:
        self._powered = False

    def _icc_status(self) -> int:
        if self.chip is None:
            return ICC_ABSENT
        return ICC_ACTIVE if self._powered else ICC_INACTIVE

    def handle_out(self, endpoint: int, data: bytes) -> None:
        if endpoint != ENDPOINT_OUT:
            raise EndpointStall(f"no OUT endpoint 0x{endpoint:02x}")
        if len(data) < 10 or int.from_bytes(data[1:5], "little") != len(data) - 10:
            raise EndpointStall(f"malformed CCID message {data[:16].hex()}")
        kind, slot, seq, payload = data[0], data[5], data[6], data[10:]
        if slot != 0:
            self._reply(_message(SLOT_STATUS, slot, seq, FAILED | ICC_ABSENT, 5, 0))  # bError 5: bad slot
        elif kind == POWER_ON:
            if self.chip is None:
                self._reply(_message(DATA_BLOCK, 0, seq, FAILED | ICC_ABSENT, ICC_MUTE, 0))
            else:
                self.chip.reset()
                self._powered = True
                self._reply(_message(DATA_BLOCK, 0, seq, ICC_ACTIVE, 0, 0, self.chip.atr))
        elif kind == POWER_OFF:
            self._powered = False
            self._reply(_message(SLOT_STATUS, 0, seq, self._icc_status(), 0, 0))
        elif kind == GET_SLOT_STATUS:
            self._reply(_message(SLOT_STATUS, 0, seq, self._icc_status(), 0, 0))
        elif kind == XFR_BLOCK:
            self._xfr_block(seq, payload)
        else:
            self._reply(_message(SLOT_STATUS, 0, seq, FAILED | self._icc_status(), CMD_NOT_SUPPORTED, 0))

    def _xfr_block(self, seq: int, apdu: bytes) -> None:
        if self._remove_after is not None:
            if self._remove_after == 0:
                self._remove_after = None
                self._take_away()
            else:
                self._remove_after -= 1
        if self.chip is None or not self._powered:
            error = ICC_MUTE if self.chip is None else 0xFB  # 0xFB: hardware error / ICC not active
            self._reply(_message(DATA_BLOCK, 0, seq, FAILED | self._icc_status(), error, 0))
            return
        chip = self.chip
        started = time.monotonic()
        response = chip.process(apdu)
        self.apdus += 1
        self.bytes_carried += len(apdu) + len(response)
        delay = chip.busy_s + (8 * (len(apdu) + len(response)) / self.bit_rate if self.bit_rate else 0.0)
        reply = _message(DATA_BLOCK, 0, seq, ICC_ACTIVE, 0, 0, response)
        if delay <= 0:
            self._reply(reply)
            return
        worker = threading.Thread(target=self._reply_later, args=(seq, reply, started + delay), daemon=True)
        worker.start()

    def _reply_later(self, seq: int, reply: bytes, ready_at: float) -> None:
        """Send time extensions while the card works, then the reply (unless the card was removed)."""
        while True:
            remaining = ready_at - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, self.extension_interval_s))
            if ready_at - time.monotonic() > 0:
                with self.lock:
                    self.time_extensions += 1
                    self.queue_in(ENDPOINT_IN, _message(DATA_BLOCK, 0, seq, TIME_EXTENSION | ICC_ACTIVE, 1, 0))
        with self.lock:
            self._reply(reply)

    def _reply(self, message: bytes) -> None:
        corrupt, self._corrupt = self._corrupt, None
        if corrupt == "sequence":
            self.queue_in(ENDPOINT_IN, message[:6] + bytes([(message[6] - 1) % 256]) + message[7:])
        elif corrupt == "truncated":
            message = message[:6]
        elif corrupt == "length":
            message = message[:1] + (len(message) - 10 + 7).to_bytes(4, "little") + message[5:]
        self.queue_in(ENDPOINT_IN, message)
