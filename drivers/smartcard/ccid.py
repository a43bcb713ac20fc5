"""USB CCID readers over pyusb (USB-IF "Smart Card CCID" rev. 1.1; facts as libccid uses them -
LudovicRousseau/CCID src/ccid.h, commands.c - see shared/reference/icao9303-and-cccd.md).

* The reader is the interface of class 0x0B; its class descriptor (type 0x21, 54 bytes) follows
  the interface descriptor.  dwFeatures (offset 40) says the exchange level: TPDU (0x00010000),
  short APDU (0x00020000) or short and extended APDU (0x00040000); dwMaxCCIDMessageLength
  (offset 44) bounds one message.  This driver carries APDUs whole, so it needs a reader at one of
  the two APDU levels - what contactless readers for ID cards are; a TPDU-level reader is refused
  with a clear error rather than driven wrongly.
* Bulk OUT/IN messages have a 10-byte header: type, dwLength (LE), bSlot, bSeq, three
  message-specific bytes; data from offset 10.  Every reply must echo the request's bSeq; one that
  does not is a stale reply and is discarded (as libccid does).  bStatus bits 6-7 = 2 is a time
  extension: the card is still working, keep waiting.
* The interrupt endpoint reports NotifySlotChange (0x50, two bits per slot: present, changed): the
  driver drains it before each exchange so that a card taken away is reported as
  :class:`CardRemoved` at once, without waiting for a timeout.
"""

from __future__ import annotations

import logging
import time

import usb.backend
import usb.core
import usb.util

from drivers.device import DeviceInfo, DeviceKind, SelfTestResult
from drivers.errors import DeviceError, DeviceNotFound, DeviceTimeout, ProtocolError
from drivers.smartcard.base import ATR, READER_GONE_HINT, CardReader, CardRemoved, NoCard
from drivers.traffic import summary
from drivers.usb_backend import default_backend
from drivers.usb_errors import UsbErrors

logger = logging.getLogger(__name__)
traffic = logging.getLogger(__name__ + ".traffic")
CCID_HEADER = 10
"""Every CCID bulk message starts with a 10-byte header (CCID 1.1, 6.1 and 6.2)."""

CCID_CLASS = 0x0B
CLASS_DESCRIPTOR_TYPE = 0x21
CLASS_DESCRIPTOR_LENGTH = 0x36

PC_TO_RDR_ICC_POWER_ON = 0x62
PC_TO_RDR_ICC_POWER_OFF = 0x63
PC_TO_RDR_GET_SLOT_STATUS = 0x65
PC_TO_RDR_XFR_BLOCK = 0x6F
RDR_TO_PC_DATA_BLOCK = 0x80
RDR_TO_PC_SLOT_STATUS = 0x81
RDR_TO_PC_NOTIFY_SLOT_CHANGE = 0x50
RDR_TO_PC_HARDWARE_ERROR = 0x51

LEVEL_MASK = 0x00070000
LEVELS = {0x00010000: "TPDU", 0x00020000: "short APDU", 0x00040000: "extended APDU"}

ICC_ABSENT = 2
#: During a run of APDUs, the interrupt endpoint (NotifySlotChange) is read at most this often.
SLOT_CHANGE_POLL_S = 0.05
STATUS_FAILED = 1
STATUS_TIME_EXTENSION = 2
ICC_MUTE = 0xFE
#: Stale replies (wrong bSeq) skipped before the reader is judged confused.
MAX_STALE_REPLIES = 4



def find(backend: usb.backend.IBackend | None = None, *, vendor_id: int | None = None,
         product_id: int | None = None) -> usb.core.Device:
    """The first CCID reader (interface class 0x0B) on ``backend``, optionally with these ids."""
    def is_ccid(device: usb.core.Device) -> bool:
        if vendor_id is not None and device.idVendor != vendor_id:
            return False
        if product_id is not None and device.idProduct != product_id:
            return False
        try:
            return any(i.bInterfaceClass == CCID_CLASS for c in device for i in c)
        except (usb.core.USBError, NotImplementedError):
            return False

    device = usb.core.find(backend=backend if backend is not None else default_backend(), custom_match=is_ccid)
    if device is None:
        wanted = f" {vendor_id:04x}:{product_id or 0:04x}" if vendor_id is not None else ""
        raise DeviceNotFound(f"no CCID smart-card reader{wanted} is connected", device="CCID reader",
                             hint="Plug the card reader in (check `lsusb`); on Linux also check the udev rule "
                                  "that gives the kiosk user access, and that pcscd does not hold the reader.")
    return device


class CcidReader(CardReader):
    """A CCID reader's slot ``slot`` over any pyusb backend.  Opens lazily; use as a context manager."""

    def __init__(self, device: usb.core.Device, *, slot: int = 0, timeout_ms: int = 2000,
                 card_timeout_s: float = 30.0) -> None:
        self._device = device
        self.slot = slot
        self.timeout_ms = timeout_ms
        self.card_timeout_s = card_timeout_s
        """Longest a card may keep asking for time extensions on one APDU."""
        self._open = False
        self._interface = 0
        self._ep_out = self._ep_in = 0
        self._ep_interrupt: int | None = None
        self._drained_at = float("-inf")
        self._seq = 0
        self._powered = False
        self._removed = False
        self.level = ""
        self.max_message_length = 271
        self.time_extensions = 0
        """Time-extension replies waited out so far (for tests and benches)."""
        self._info: DeviceInfo | None = None
        bus, address = device.bus, device.address
        self._address = "usb:?" if bus is None or address is None else f"usb:{bus}:{address}"
        self._name = f"CCID reader at {self._address}"
        self._usb = UsbErrors(device, self._name, timeout_ms, (), gone_hint=READER_GONE_HINT,
                              busy_hint="Stop pcscd (or use model = \"pcsc\") so that the station can claim "
                                        "the reader.")

    # ---- lifecycle

    def open(self) -> None:
        """Configure, claim the CCID interface, read the class descriptor and the strings."""
        if self._open:
            return
        dev = self._device
        try:
            try:
                configuration = dev.get_active_configuration()
            except usb.core.USBError as exc:
                if exc.errno is not None:
                    raise
                dev.set_configuration()
                configuration = dev.get_active_configuration()
            interface = next((i for i in configuration if i.bInterfaceClass == CCID_CLASS), None)
            if interface is None:
                raise DeviceNotFound("the device has no CCID interface (class 0x0B)", device=self._name)
            self._interface = interface.bInterfaceNumber
            self._read_class_descriptor(bytes(interface.extra_descriptors))
            for endpoint in interface:
                kind = usb.util.endpoint_type(endpoint.bmAttributes)
                incoming = usb.util.endpoint_direction(endpoint.bEndpointAddress) == usb.util.ENDPOINT_IN
                if kind == usb.util.ENDPOINT_TYPE_BULK:
                    if incoming:
                        self._ep_in = endpoint.bEndpointAddress
                    else:
                        self._ep_out = endpoint.bEndpointAddress
                elif kind == usb.util.ENDPOINT_TYPE_INTR and incoming:
                    self._ep_interrupt = endpoint.bEndpointAddress
            if not (self._ep_in and self._ep_out):
                raise ProtocolError("the CCID interface lacks its bulk endpoints", device=self._name)
            self._usb.endpoints = (self._ep_out, self._ep_in)
            try:
                if dev.is_kernel_driver_active(self._interface):
                    dev.detach_kernel_driver(self._interface)
            except NotImplementedError:
                pass
            usb.util.claim_interface(dev, self._interface)
        except usb.core.USBError as exc:
            usb.util.dispose_resources(dev)
            self._usb.fail(exc, "opening the reader")
        self._open = True
        self._info = self._read_info()
        logger.debug("opened %s (%s level, messages up to %d bytes)", self._name, self.level, self.max_message_length)

    def _read_class_descriptor(self, extra: bytes) -> None:
        """Learn the exchange level and message size from the CCID class descriptor."""
        offset = 0
        while offset + 2 <= len(extra):
            length, kind = extra[offset], extra[offset + 1]
            if length < 2:
                break
            if kind == CLASS_DESCRIPTOR_TYPE and length >= CLASS_DESCRIPTOR_LENGTH:
                descriptor = extra[offset : offset + length]
                features = int.from_bytes(descriptor[40:44], "little")
                self.max_message_length = int.from_bytes(descriptor[44:48], "little")
                level = features & LEVEL_MASK
                self.level = LEVELS.get(level, "character")
                if level not in (0x00020000, 0x00040000):
                    raise DeviceError(
                        f"the reader exchanges at {self.level} level (dwFeatures 0x{features:08x}); this driver "
                        "carries whole APDUs", device=self._name,
                        hint="Use a reader with short or extended APDU exchange (most contactless readers), "
                             "or the PC/SC driver (model = \"pcsc\"), whose CCID driver speaks TPDU.")
                return
            offset += length
        raise ProtocolError("no CCID class descriptor (type 0x21) after the interface descriptor", device=self._name)

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._powered = False
        try:
            usb.util.release_interface(self._device, self._interface)
        except usb.core.USBError as exc:
            logger.debug("closing %s: %s", self._name, exc)
        usb.util.dispose_resources(self._device)

    # ---- CardReader

    @property
    def supports_extended(self) -> bool:
        self.open()
        return self.level == "extended APDU"

    def info(self) -> DeviceInfo:
        self.open()
        assert self._info is not None
        return self._info

    @property
    def name(self) -> str:
        return self._name

    def self_test(self) -> SelfTestResult:
        """A GetSlotStatus round trip; reports the exchange level and whether a card is present."""
        checks: dict[str, str] = {}
        try:
            checks["device"] = self.info().model
            checks["exchange level"] = f"{self.level}, messages up to {self.max_message_length} bytes"
            checks["slot"] = "card present" if self.card_present() else "no card"
        except DeviceError as exc:
            return SelfTestResult(passed=False, checks=checks, problem=str(exc))
        return SelfTestResult(passed=True, checks=checks)

    def card_present(self) -> bool:
        self.open()
        self._drain_slot_changes()
        status = self._command(PC_TO_RDR_GET_SLOT_STATUS, b"", b"\x00\x00\x00", RDR_TO_PC_SLOT_STATUS, "GetSlotStatus")
        present = status[7] & 0x03 != ICC_ABSENT
        if not present:
            self._powered = False
        return present

    def power_on(self) -> ATR:
        self.open()
        self._drain_slot_changes()
        reply = self._command(PC_TO_RDR_ICC_POWER_ON, b"", b"\x00\x00\x00", RDR_TO_PC_DATA_BLOCK, "IccPowerOn",
                              absent=NoCard("no card to power on", device=self._name))
        self._powered, self._removed = True, False
        return ATR.parse(reply[10:], device=self._name)

    def power_off(self) -> None:
        if not self._open:
            return
        self._powered = False
        try:
            self._command(PC_TO_RDR_ICC_POWER_OFF, b"", b"\x00\x00\x00", RDR_TO_PC_SLOT_STATUS, "IccPowerOff")
        except DeviceError as exc:
            logger.debug("%s: power off: %s", self._name, exc)

    def exchange(self, command: bytes) -> bytes:
        self.open()
        # Reading the interrupt endpoint costs its timeout (1 ms) when nothing is queued, which is
        # most of the time: during a run of APDUs it is read at most every SLOT_CHANGE_POLL_S.  A
        # removal in between is still seen at once, in the XfrBlock reply's ICC status (absent).
        now = time.monotonic()
        if now - self._drained_at >= SLOT_CHANGE_POLL_S:
            self._drain_slot_changes()
            self._drained_at = now
        if self._removed:
            raise CardRemoved("the card was taken away (NotifySlotChange)", device=self._name)
        if not self._powered:
            raise NoCard("the card is not powered on", device=self._name)
        if 10 + len(command) > self.max_message_length:
            raise ProtocolError(f"a {len(command)}-byte APDU exceeds the reader's {self.max_message_length}-byte "
                                "messages", device=self._name)
        # bBWI 0; wLevelParameter 0000: at APDU level, "this message holds the whole APDU" (no chaining).
        reply = self._command(PC_TO_RDR_XFR_BLOCK, command, b"\x00\x00\x00", RDR_TO_PC_DATA_BLOCK, "XfrBlock",
                              absent=CardRemoved("the card left the field during an exchange", device=self._name))
        return reply[10:]

    # ---- protocol

    def _drain_slot_changes(self) -> None:
        """Read what the interrupt endpoint has queued (without waiting) and note a removal."""
        if self._ep_interrupt is None:
            return
        while True:
            try:
                data = bytes(self._device.read(self._ep_interrupt, 8, 1))
            except usb.core.USBTimeoutError:
                return
            except usb.core.USBError as exc:
                self._usb.fail(exc, "reading slot changes")
            traffic.debug("INT 0x%02x: %s", self._ep_interrupt, data.hex())
            if len(data) >= 2 and data[0] == RDR_TO_PC_NOTIFY_SLOT_CHANGE:
                bits = data[1 + self.slot // 4] >> (2 * (self.slot % 4))
                if bits & 0b10 and not bits & 0b01:
                    self._removed, self._powered = True, False
                    logger.info("%s: card removed", self._name)
                elif bits & 0b10:
                    self._removed = False
            elif data and data[0] == RDR_TO_PC_HARDWARE_ERROR:
                logger.warning("%s: reader reports hardware error %s", self._name, data.hex())

    def _command(self, kind: int, data: bytes, specific: bytes, reply_kind: int, what: str, *,
                 absent: DeviceError | None = None) -> bytes:
        """Send one bulk message and return its validated reply (time extensions waited out)."""
        self._seq = (self._seq + 1) % 256
        seq = self._seq
        message = bytes([kind]) + len(data).to_bytes(4, "little") + bytes([self.slot, seq]) + specific + data
        traffic.debug("OUT %s: %s", what, summary(message, head=CCID_HEADER + 5))  # + the APDU header
        self._usb.call(f"sending {what}", lambda: self._device.write(self._ep_out, message, self.timeout_ms))
        deadline = time.monotonic() + self.card_timeout_s
        stale = 0
        while True:
            reply = bytes(self._usb.call(f"reply to {what}", lambda: self._device.read(
                self._ep_in, _round_up(self.max_message_length, 64), self.timeout_ms)))
            traffic.debug("IN %s: %s", what, summary(reply, head=CCID_HEADER, tail=2))  # + the status word
            if len(reply) < 10:
                raise ProtocolError(f"reply to {what}: {len(reply)} bytes, shorter than the 10-byte header "
                                    f"({reply.hex()})", device=self._name)
            if reply[6] != seq:
                stale += 1
                logger.warning("%s: discarding a reply with bSeq %d while waiting for %d", self._name, reply[6], seq)
                if stale > MAX_STALE_REPLIES:
                    raise ProtocolError(f"reply to {what}: {stale} replies with the wrong bSeq", device=self._name)
                continue
            length = int.from_bytes(reply[1:5], "little")
            if length != len(reply) - 10:
                raise ProtocolError(f"reply to {what}: dwLength says {length} bytes, {len(reply) - 10} came",
                                    device=self._name)
            if reply[0] != reply_kind or reply[5] != self.slot:
                raise ProtocolError(f"reply to {what}: message type 0x{reply[0]:02x} slot {reply[5]}, expected "
                                    f"0x{reply_kind:02x} slot {self.slot}", device=self._name)
            status, error = reply[7], reply[8]
            command_status = status >> 6
            if command_status == STATUS_TIME_EXTENSION:
                self.time_extensions += 1
                if time.monotonic() > deadline:
                    raise DeviceTimeout(f"{what}: the card asked for more time for over {self.card_timeout_s:g} s",
                                        device=self._name)
                continue
            if command_status == STATUS_FAILED:
                if status & 0x03 == ICC_ABSENT:
                    self._powered = False
                    if absent is not None:
                        raise absent
                    raise NoCard(f"{what}: no card in the slot", device=self._name)
                if error == ICC_MUTE:
                    raise DeviceTimeout(f"{what}: the card did not answer (ICC mute)", device=self._name)
                raise ProtocolError(f"{what} failed: bStatus 0x{status:02x} bError 0x{error:02x}", device=self._name)
            return reply

    def _read_info(self) -> DeviceInfo:
        dev = self._device
        strings = {}
        for key, index in (("manufacturer", dev.iManufacturer), ("product", dev.iProduct),
                           ("serial", dev.iSerialNumber)):
            try:
                strings[key] = usb.util.get_string(dev, index) or "" if index else ""
            except (usb.core.USBError, ValueError) as exc:
                logger.warning("%s: cannot read the %s string: %s", self._name, key, exc)
                strings[key] = ""
        bcd = dev.bcdDevice
        return DeviceInfo(DeviceKind.CARD_READER, strings["product"] or "CCID reader", self._address,
                          vendor=strings["manufacturer"], vendor_id=dev.idVendor, product_id=dev.idProduct,
                          serial=strings["serial"], firmware=f"{bcd >> 8:x}.{bcd & 0xFF:02x}")


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
