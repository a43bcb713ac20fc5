"""Driver for the NEXT Biometrics NB-1010-U press sensor (USB 298d:1010, 256 x 180 grey image).

Protocol facts, from libfprint's ``drivers/nb1010.c`` (LGPL; facts only) and its test recording
(shared/testdata/usb/nb1010/, checked byte by byte; see shared/reference/fingerprint-devices.md):

* Interface 0; commands go to bulk OUT 0x02, everything comes back on bulk IN 0x83.  libfprint
  uses a 500 ms transfer timeout and polls for the finger every 50 ms.
* A command is ``80``, command code, sequence byte, ``00``, u32 little-endian total length, payload.
* Each command is answered with a 16-byte reply: ``80``, reply code (0x37 to check-finger, 0x20
  to pre-capture and capture), the command's sequence byte echoed, ``00``, u32 length (16), then
  bytes 8..15; byte 12 of the check-finger reply is the finger level (finger present above 0x30,
  libfprint's threshold; the recording has 0xF7).
* After pre-capture and capture the image follows in 90 bulk reads of 540 bytes.  Header layout,
  confirmed on all 90 reads of the recording: byte 0 ``80``; byte 1 ``21``; bytes 4..7 u32 length
  (540); bytes 12..15 u32 1 while more reads follow, 0 on the last (not checked: one recording is
  thin evidence for a flag we do not need); bytes 16..19 u32 index of the *second* of the two
  lines carried (1, 3, ..., 179: checked, it is what keeps the lines in order); bytes 20..23 u32
  line width (256: checked, it fixes how the pixels are cut); byte 24 ``01``.  Then 2 x 256 pixels
  (row-major, no flip or inversion: the recording's pixels are libfprint's image) and 3 padding
  bytes.

Resolution: 385 ppi, from NEXT's product brief for the NB-1010-U as quoted to the project (not
confirmable from the stored sources; 256 x 180 px at 385 ppi is a 16.9 x 11.9 mm sensing area).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import numpy as np
import usb.backend
import usb.core
import usb.util

from drivers.device import DeviceInfo, DeviceKind, SelfTestResult
from drivers.errors import (
    Cancelled,
    DeviceError,
    DeviceNotFound,
    ProtocolError,
)
from drivers.fingerprint.base import FingerImage, FingerprintScanner
from drivers.traffic import summary
from drivers.usb_backend import default_backend
from drivers.usb_errors import UsbErrors

logger = logging.getLogger(__name__)
traffic = logging.getLogger(__name__ + ".traffic")

USB_VENDOR_ID = 0x298D
USB_PRODUCT_ID = 0x1010
MODEL = "NB-1010-U"
PPI = 385

INTERFACE = 0
ENDPOINT_OUT = 0x02
ENDPOINT_IN = 0x83

WIDTH = 256
HEIGHT = 180
LINES_PER_READ = 2
IMAGE_READS = HEIGHT // LINES_PER_READ
IMAGE_READ_LENGTH = 540
IMAGE_HEADER_LENGTH = 25
REPLY_LENGTH = 16

#: Reply byte 12 above this means a finger lies on the sensor (libfprint).
FINGER_THRESHOLD = 0x30

# Command codes and the reply code each one gets.
CHECK_FINGER = 0x38
PRE_CAPTURE = 0x0D
CAPTURE = 0x12
REPLY_FINGER_LEVEL = 0x37
REPLY_ACK = 0x20
IMAGE_DATA = 0x21

# Sequence bytes.  The vendor software numbers its commands with a counter; libfprint replays the
# commands exactly as captured from it, so each command always carries the number it had there:
# check-finger 01, pre-capture 03, capture 04 (02 belonged to a command libfprint does not send).
# The device echoes the byte without checking it (libfprint's notes), so fixed numbers work, and
# keeping them makes our traffic byte-identical to the recording the replay tests hold us to.
SEQ_CHECK_FINGER = 0x01
SEQ_PRE_CAPTURE = 0x03
SEQ_CAPTURE = 0x04

# Payloads as recorded; their meaning is not known (libfprint: "pre capture, dont know what does
# it do, but appears everytime a capture begins").
PRE_CAPTURE_PAYLOAD = bytes.fromhex("00040000")
CAPTURE_PAYLOAD = bytes.fromhex("02000000" + "00" * 16 + "20000000")



def command(code: int, sequence: int, payload: bytes = b"") -> bytes:
    """Frame a command: ``80``, code, sequence, ``00``, u32 LE total length, payload."""
    return bytes([0x80, code, sequence, 0]) + (8 + len(payload)).to_bytes(4, "little") + payload


def find(backend: usb.backend.IBackend | None = None) -> usb.core.Device:
    """The first NB-1010-U on ``backend`` (default: this machine's libusb, see
    :func:`drivers.usb_backend.default_backend`).  Raises DeviceNotFound, with a hint, when there is
    none or no USB library to look with."""
    device = usb.core.find(idVendor=USB_VENDOR_ID, idProduct=USB_PRODUCT_ID,
                           backend=backend if backend is not None else default_backend())
    if device is None:
        raise DeviceNotFound(
            f"no {MODEL} (USB {USB_VENDOR_ID:04x}:{USB_PRODUCT_ID:04x}) is connected", device=MODEL,
            hint="Plug the scanner in (check `lsusb` for 298d:1010); on Linux also check the udev "
                 "rule that gives the kiosk user access.")
    return device


class NB1010Scanner(FingerprintScanner):
    """The NB-1010-U over any pyusb backend.  Opens lazily on first use; use as a context manager."""

    def __init__(self, device: usb.core.Device, *, timeout_ms: int = 500,
                 finger_threshold: int = FINGER_THRESHOLD) -> None:
        self._device = device
        self.timeout_ms = timeout_ms
        self.finger_threshold = finger_threshold
        self._open = False
        self._detached_kernel_driver = False
        self._info: DeviceInfo | None = None
        self._name = f"{MODEL} at {self._address()}"
        self._usb = UsbErrors(device, self._name, timeout_ms, (ENDPOINT_OUT, ENDPOINT_IN),
                              busy_hint=f"Interface {INTERFACE} is held by another program or driver; close it.",
                              access_hint="Add a udev rule giving the kiosk user access to USB 298d:1010, "
                                          "then replug.")

    # ---- lifecycle

    def open(self) -> None:
        """Select the configuration if the device has none, detach a kernel driver from interface
        0 if one is bound (where the platform can tell), claim the interface, read the strings."""
        if self._open:
            return
        dev = self._device
        try:
            try:
                dev.get_active_configuration()
            except usb.core.USBError as exc:
                if exc.errno is not None:  # a real failure, not pyusb's "Configuration not set"
                    raise
                dev.set_configuration()
            try:
                if dev.is_kernel_driver_active(INTERFACE):
                    dev.detach_kernel_driver(INTERFACE)
                    self._detached_kernel_driver = True
            except NotImplementedError:
                pass  # libusb cannot tell on this platform; claiming will say if it is taken
            usb.util.claim_interface(dev, INTERFACE)
        except usb.core.USBError as exc:
            self._give_back_kernel_driver()
            usb.util.dispose_resources(dev)
            self._usb.fail(exc, f"opening the device (interface {INTERFACE})")
        self._open = True
        self._info = self._read_info()
        logger.info("opened %s, firmware %s", self._name, self._info.firmware)

    def close(self) -> None:
        """Release the interface (and give a detached kernel driver back); quiet if the device is
        already gone."""
        if not self._open:
            return
        self._open = False
        try:
            usb.util.release_interface(self._device, INTERFACE)
        except usb.core.USBError as exc:
            logger.debug("closing %s: %s", self._name, exc)
        self._give_back_kernel_driver()
        usb.util.dispose_resources(self._device)
        logger.info("closed %s", self._name)

    def _give_back_kernel_driver(self) -> None:
        """Re-attach the kernel driver :meth:`open` detached, if any (best effort)."""
        if not self._detached_kernel_driver:
            return
        self._detached_kernel_driver = False
        try:
            self._device.attach_kernel_driver(INTERFACE)
        except usb.core.USBError as exc:
            logger.debug("re-attaching the kernel driver of %s: %s", self._name, exc)

    # ---- FingerprintScanner

    def info(self) -> DeviceInfo:
        self.open()
        assert self._info is not None
        return self._info

    def finger_present(self) -> bool:
        return self.finger_level() > self.finger_threshold

    def finger_level(self) -> int:
        """The sensor's finger level (reply byte 12): 0..255, finger present above the threshold."""
        self.open()
        reply = self._command(CHECK_FINGER, SEQ_CHECK_FINGER, b"", REPLY_FINGER_LEVEL, "check-finger")
        return reply[12]

    def capture(self, cancel: threading.Event | None = None) -> FingerImage:
        """Pre-capture, capture and the image's reads.  ``cancel`` is checked before the exchange,
        not inside it: the exchange is a few bulk transfers, and abandoning it half-way would leave
        image data queued ahead of the next command's reply."""
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{self._name}: capture cancelled")
        self.open()
        self._command(PRE_CAPTURE, SEQ_PRE_CAPTURE, PRE_CAPTURE_PAYLOAD, REPLY_ACK, "pre-capture")
        self._command(CAPTURE, SEQ_CAPTURE, CAPTURE_PAYLOAD, REPLY_ACK, "capture")
        pixels = np.empty((HEIGHT, WIDTH), np.uint8)
        for index in range(IMAGE_READS):
            data = self._read(IMAGE_READ_LENGTH, f"image read {index + 1} of {IMAGE_READS}")
            self._check_image_header(data, index)
            first_line = index * LINES_PER_READ
            pixels[first_line : first_line + LINES_PER_READ] = np.frombuffer(
                data, np.uint8, LINES_PER_READ * WIDTH, IMAGE_HEADER_LENGTH).reshape(LINES_PER_READ, WIDTH)
        return FingerImage(pixels=pixels, ppi=PPI, device=self.info(), captured_at=datetime.now(UTC))

    def self_test(self) -> SelfTestResult:
        """A check-finger round trip and a full image transfer; no finger needed."""
        checks: dict[str, str] = {}
        try:
            checks["device"] = f"{self.info().model} firmware {self.info().firmware}"
            checks["check-finger"] = f"level 0x{self.finger_level():02x}"
            image = self.capture()
            checks["image"] = (f"{image.pixels.shape[1]}x{image.pixels.shape[0]}, "
                               f"mean {image.pixels.mean():.0f}, std {image.pixels.std():.1f}")
        except DeviceError as exc:
            return SelfTestResult(passed=False, checks=checks, problem=str(exc))
        return SelfTestResult(passed=True, checks=checks)

    # ---- protocol

    def _command(self, code: int, sequence: int, payload: bytes, reply_code: int, what: str) -> bytes:
        """Send a command and return its validated 16-byte reply."""
        packet = command(code, sequence, payload)
        traffic.debug("OUT 0x%02x %s: %s", ENDPOINT_OUT, what, packet.hex())
        written = self._usb.call(f"sending {what}", lambda: self._device.write(ENDPOINT_OUT, packet, self.timeout_ms))
        if written != len(packet):
            raise ProtocolError(f"sending {what}: device took {written} of {len(packet)} bytes", device=self._name)
        reply = self._read(REPLY_LENGTH, f"reply to {what}")
        expected = {0: 0x80, 1: reply_code, 2: sequence}
        for offset, value in expected.items():
            if reply[offset] != value:
                raise ProtocolError(f"reply to {what}: byte {offset} is 0x{reply[offset]:02x}, expected "
                                    f"0x{value:02x} ({reply.hex()})", device=self._name)
        self._check_length_field(reply, f"reply to {what}")
        return reply

    def _read(self, length: int, what: str) -> bytes:
        """One bulk IN transfer of exactly ``length`` bytes; anything shorter is a ProtocolError."""
        data = bytes(self._usb.call(what, lambda: self._device.read(ENDPOINT_IN, length, self.timeout_ms)))
        if traffic.isEnabledFor(logging.DEBUG):
            traffic.debug("IN 0x%02x %s: %s", ENDPOINT_IN, what, summary(data, head=IMAGE_HEADER_LENGTH))
        if len(data) != length:
            raise ProtocolError(f"short {what}: got {len(data)} bytes, expected {length}", device=self._name)
        return data

    def _check_length_field(self, data: bytes, what: str) -> None:
        declared = int.from_bytes(data[4:8], "little")
        if declared != len(data):
            raise ProtocolError(f"{what}: length field (bytes 4..7) says {declared}, got {len(data)} bytes",
                                device=self._name)

    def _check_image_header(self, data: bytes, index: int) -> None:
        what = f"image read {index + 1} of {IMAGE_READS}"
        if data[0] != 0x80 or data[1] != IMAGE_DATA:
            raise ProtocolError(f"{what}: header starts {data[:2].hex()}, expected 80{IMAGE_DATA:02x}",
                                device=self._name)
        self._check_length_field(data, what)
        line = int.from_bytes(data[16:20], "little")
        expected_line = index * LINES_PER_READ + LINES_PER_READ - 1
        if line != expected_line:
            raise ProtocolError(f"{what}: line index (header bytes 16..19) is {line}, expected "
                                f"{expected_line}: lines lost or out of order", device=self._name)
        width = int.from_bytes(data[20:24], "little")
        if width != WIDTH:
            raise ProtocolError(f"{what}: line width (header bytes 20..23) is {width}, expected {WIDTH}",
                                device=self._name)

    # ---- USB plumbing

    def _address(self) -> str:
        """``usb:BUS:ADDRESS``, written as drivers.discovery writes it (``usb:?`` where the backend
        does not say)."""
        bus, address = self._device.bus, self._device.address
        return "usb:?" if bus is None or address is None else f"usb:{bus}:{address}"

    def _read_info(self) -> DeviceInfo:
        """Identity from the device descriptor and its string descriptors.  A device that will not
        give its strings is still usable; the fields stay empty."""
        dev = self._device
        strings = {}
        for name, index in (("manufacturer", dev.iManufacturer), ("product", dev.iProduct),
                            ("serial", dev.iSerialNumber)):
            if not index:
                strings[name] = ""
                continue
            try:
                strings[name] = usb.util.get_string(dev, index) or ""
            except (usb.core.USBError, ValueError) as exc:
                logger.warning("%s: cannot read the %s string: %s", self._name, name, exc)
                strings[name] = ""
        bcd = dev.bcdDevice
        return DeviceInfo(
            kind=DeviceKind.FINGERPRINT, model=strings["product"] or MODEL, address=self._address(),
            vendor=strings["manufacturer"], vendor_id=dev.idVendor, product_id=dev.idProduct,
            serial=strings["serial"], firmware=f"{bcd >> 8:x}.{bcd & 0xFF:02x}",
        )
