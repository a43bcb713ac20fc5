"""A simulated NEXT Biometrics NB-1010-U fingerprint sensor, speaking its protocol from the device side.

Written from the recorded traffic (shared/testdata/usb/nb1010/capture.ioctl, from libfprint's test
suite) and the protocol notes in shared/reference/fingerprint-devices.md - never from the driver, so
the two ends check each other.  The USB descriptors are the real ones: the hex on the recording's
``N: bus/usb/001/003=`` line.

The device's messages, as recorded (multi-byte fields little-endian; "unknown" bytes are sent as
recorded):

* Command (host -> bulk OUT 0x02): ``80``, command code, sequence byte, ``00``, u32 total length,
  then a command-specific payload.
* Reply (bulk IN 0x83, 16 bytes): ``80``, reply code, the command's sequence byte echoed, ``00``,
  u32 length 16, 4 zero bytes, a status byte at offset 12, 3 zero bytes.  Reply codes: 0x37 to
  check-finger (0x38), whose status byte is the finger level; 0x20 to pre-capture (0x0D, status 0)
  and to capture (0x12, status 3).
* Image read (bulk IN 0x83, 540 bytes, 90 of them after a capture): a 25-byte header
  ``80 21 00 00``, u32 length 540, 4 zero bytes, u32 "more reads follow" (1, and 0 on the last
  read), u32 index of the second line carried (1, 3, ..., 179), u32 line width 256, a byte 01;
  then two 256-pixel lines, then 3 zero bytes.

Unknowns are simulated simply and said so: the finger level with no finger (the recording only has
0xF7 with a finger; :data:`ABSENT_LEVEL` here), the image of an empty sensor (flat light grey with
fixed noise), the interrupt endpoint 0x81 (never sends anything), and commands other than these
three, or malformed ones (the sensor STALLs bulk OUT - a visible failure rather than silence).
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np

from hardware_sim.usb_virtual import EndpointStall, VirtualBackend, VirtualDevice

USB_VENDOR_ID = 0x298D
USB_PRODUCT_ID = 0x1010

#: Device + configuration descriptors of the recorded NB-1010-U (libfprint tests/nb1010/device).
DESCRIPTORS = bytes.fromhex(
    "12010002000000408D29101001000102000109022700010100A032090400000300000000"
    "070581034000050705020240000007058302400000"
)
#: String descriptors: the recording's sysfs ``manufacturer`` and ``product`` attributes, at the
#: indices the device descriptor gives (iManufacturer 1, iProduct 2; iSerialNumber 0 = none).
STRINGS = {1: "NEXT Biometrics", 2: "NB-1010-U"}

ENDPOINT_OUT = 0x02
ENDPOINT_IN = 0x83

WIDTH = 256
HEIGHT = 180
LINES_PER_READ = 2
READS_PER_IMAGE = HEIGHT // LINES_PER_READ
IMAGE_READ_LENGTH = 540
IMAGE_HEADER_LENGTH = 25
REPLY_LENGTH = 16

CHECK_FINGER = 0x38
PRE_CAPTURE = 0x0D
CAPTURE = 0x12
REPLY_FINGER_LEVEL = 0x37
REPLY_ACK = 0x20
IMAGE_DATA = 0x21

#: Finger level (reply byte 12) with a finger on the sensor, as recorded.
PRESENT_LEVEL = 0xF7
#: Finger level with no finger: not in the recording; any value at or under libfprint's 0x30 fits.
ABSENT_LEVEL = 0x08
#: Status byte of the capture reply, as recorded.
CAPTURE_STATUS = 0x03
#: Grey level of an empty sensor; the recording's background is around 0xE5.
BACKGROUND = 0xE5


def _reply(code: int, sequence: int, status: int = 0) -> bytes:
    return (bytes([0x80, code, sequence, 0]) + REPLY_LENGTH.to_bytes(4, "little") + bytes(4)
            + bytes([status, 0, 0, 0]))


def _image_read(frame: np.ndarray, index: int) -> bytes:
    """The ``index``-th of the 90 reads that carry ``frame``."""
    first_line = index * LINES_PER_READ
    more = 1 if index < READS_PER_IMAGE - 1 else 0
    header = (bytes([0x80, IMAGE_DATA, 0, 0]) + IMAGE_READ_LENGTH.to_bytes(4, "little") + bytes(4)
              + more.to_bytes(4, "little") + (first_line + LINES_PER_READ - 1).to_bytes(4, "little")
              + WIDTH.to_bytes(4, "little") + b"\x01")
    lines = frame[first_line : first_line + LINES_PER_READ].tobytes()
    return header + lines + bytes(IMAGE_READ_LENGTH - IMAGE_HEADER_LENGTH - len(lines))


def _empty_sensor() -> np.ndarray:
    """A flat light image with a little fixed-pattern noise, the same every run."""
    noise = np.random.default_rng(1010).integers(-3, 4, size=(HEIGHT, WIDTH))
    return np.clip(BACKGROUND + noise, 0, 255).astype(np.uint8)


def fit_to_sensor(pixels: np.ndarray, *, fit: str = "crop") -> np.ndarray:
    """Make a grey image 256 x 180.  ``fit="crop"`` keeps the scale (crops the centre, pads with
    background), right for an image rendered at the sensor's resolution; ``fit="resize"`` scales."""
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"expected a 2-D uint8 grey image, got {pixels.ndim}-D {pixels.dtype}")
    if fit == "resize":
        return cv2.resize(pixels, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    if fit != "crop":
        raise ValueError(f"fit must be 'crop' or 'resize', not {fit!r}")
    out = np.full((HEIGHT, WIDTH), BACKGROUND, np.uint8)
    h, w = min(HEIGHT, pixels.shape[0]), min(WIDTH, pixels.shape[1])
    sy, sx = (pixels.shape[0] - h) // 2, (pixels.shape[1] - w) // 2
    dy, dx = (HEIGHT - h) // 2, (WIDTH - w) // 2
    out[dy : dy + h, dx : dx + w] = pixels[sy : sy + h, sx : sx + w]
    return out


class NB1010Simulator(VirtualDevice):
    """The NB-1010-U on a :class:`VirtualBackend`, with a finger to place and faults to inject.

    ``sim = NB1010Simulator()`` creates its own backend and plugs itself in; ``sim.backend`` is what
    to pass to ``usb.core.find``.  Faults are one-shot and affect the device's IN messages (command
    replies and image reads alike), counted from the next one: ``skip`` lets a test aim at, say,
    the 10th image read.
    """

    def __init__(self, backend: VirtualBackend | None = None, *, plugged_in: bool = True) -> None:
        super().__init__(DESCRIPTORS, strings=STRINGS)
        self._image = _empty_sensor()
        self._finger = False
        self._pending: bytes | None = None
        self._frame: np.ndarray | None = None
        self._reads_sent = 0
        self._hung_until = 0.0
        self._short: tuple[int, int | None] | None = None  # (messages to skip, length)
        self._corrupt: tuple[int, int, int] | None = None  # (messages to skip, offset, xor mask)
        self._unplug_after: int | None = None
        self.commands: list[bytes] = []
        """Every command the host sent, in order (for tests that check what reached the wire)."""
        self.backend: VirtualBackend = backend or VirtualBackend()
        """The backend the sensor is (or will be) plugged into."""
        if plugged_in:
            self.backend.attach(self)

    # ---- the finger

    def place_finger(self, pixels: np.ndarray, *, fit: str = "crop") -> None:
        """Put a finger on the sensor: its image (see :func:`fit_to_sensor`) is what the next
        capture transfers, and check-finger reports it."""
        image = fit_to_sensor(pixels, fit=fit)
        with self.lock:
            self._image = image
            self._finger = True

    def lift_finger(self) -> None:
        """Take the finger off: the sensor images an empty surface again."""
        with self.lock:
            self._image = _empty_sensor()
            self._finger = False

    # ---- faults

    def short_read_next(self, *, skip: int = 0, length: int | None = None) -> None:
        """Truncate an IN message (the next one after ``skip``) to ``length`` bytes (default half)."""
        with self.lock:
            self._short = (skip, length)

    def corrupt_next(self, *, skip: int = 0, offset: int = 0, xor: int = 0xFF) -> None:
        """Flip bits (``xor``) of byte ``offset`` of an IN message (the next one after ``skip``);
        offset 0 breaks the 0x80 marker, offset 16 an image read's line index."""
        with self.lock:
            self._corrupt = (skip, offset, xor)

    def stall(self, seconds: float) -> None:
        """The firmware hangs for ``seconds``: IN transfers time out, commands sent meanwhile are
        lost and an image transfer in progress is abandoned."""
        with self.lock:
            self._hung_until = time.monotonic() + seconds
            self._pending = None
            self._frame = None
        timer = threading.Timer(seconds, self.wake_host)
        timer.daemon = True
        timer.start()

    def unplug(self, *, after_reads: int | None = None) -> None:
        """Pull the cable now, or - with ``after_reads`` - during the next image transfer, once that
        many of its 90 reads have been sent."""
        if after_reads is None:
            self.backend.detach(self)
            return
        with self.lock:
            self._unplug_after = after_reads

    def replug(self) -> None:
        """Plug the cable back in: the sensor powers up afresh at a new bus address."""
        self.backend.attach(self)

    # ---- the protocol

    def on_reset(self) -> None:
        self._pending = None
        self._frame = None
        self._unplug_after = None
        self._hung_until = 0.0

    def handle_out(self, endpoint: int, data: bytes) -> None:
        if endpoint != ENDPOINT_OUT:
            raise EndpointStall(f"no OUT endpoint 0x{endpoint:02x}")
        self.commands.append(data)
        if time.monotonic() < self._hung_until:
            return
        if len(data) < 8 or data[0] != 0x80 or int.from_bytes(data[4:8], "little") != len(data):
            raise EndpointStall(f"malformed command {data.hex()}")
        code, sequence = data[1], data[2]
        if code == CHECK_FINGER:
            self._pending = _reply(REPLY_FINGER_LEVEL, sequence, PRESENT_LEVEL if self._finger else ABSENT_LEVEL)
        elif code == PRE_CAPTURE:
            self._pending = _reply(REPLY_ACK, sequence)
        elif code == CAPTURE:
            self._pending = _reply(REPLY_ACK, sequence, CAPTURE_STATUS)
            self._frame = self._image.copy()
            self._reads_sent = 0
        else:
            raise EndpointStall(f"unknown command 0x{code:02x}")
        if code != CAPTURE:
            self._frame = None  # a new command abandons an image transfer in progress
        self.wake_host()

    def produce_in(self, endpoint: int) -> bytes | None:
        if endpoint != ENDPOINT_IN or time.monotonic() < self._hung_until:
            return None
        if self._pending is not None:
            message, self._pending = self._pending, None
        elif self._frame is not None:
            if self._unplug_after is not None and self._reads_sent >= self._unplug_after:
                self.backend.detach(self)
                return None
            message = _image_read(self._frame, self._reads_sent)
            self._reads_sent += 1
            if self._reads_sent == READS_PER_IMAGE:
                self._frame = None
        else:
            return None
        return self._apply_faults(message)

    def _apply_faults(self, message: bytes) -> bytes:
        if self._corrupt is not None:
            skip, offset, xor = self._corrupt
            if skip == 0:
                self._corrupt = None
                message = message[:offset] + bytes([message[offset] ^ xor]) + message[offset + 1 :]
            else:
                self._corrupt = (skip - 1, offset, xor)
        if self._short is not None:
            skip, length = self._short
            if skip == 0:
                self._short = None
                message = message[: len(message) // 2 if length is None else length]
            else:
                self._short = (skip - 1, length)
        return message
