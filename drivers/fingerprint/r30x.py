"""Driver for the ZFM-20 / AS608 / R30x family of UART fingerprint modules, over pyserial.

The modules speak a packet protocol at 9600 x N baud.  Protocol facts (packet format, instruction
and confirmation codes, ReadSysPara layout, UpImage format) come from the ZFM-20 datasheet and
Adafruit's Fingerprint libraries (adafruit_fingerprint.py, Adafruit_Fingerprint.h), summarised with
sources in ``shared/reference/fingerprint-devices.md``.

Why the driver is more than "send command, read reply":

* An image upload is 36,864 bytes: 6.4 s of wire time at the default 57600 baud.  The driver
  negotiates the fastest rate the module and the line sustain, and reads in large chunks so the
  line stays busy (>= 95 %) during the upload.
* Clones differ: some apply a new baud rate at once, some only after a power cycle, some garble
  replies at high rates.  Negotiation verifies every switch and falls back; the module is never left
  at a rate the station cannot reach.  The rate is stored in the module's flash, so ``open()``
  searches the other rates when the configured one gets no answer.
* Cables pick up noise and USB adapters vanish: packets are found by their start code (junk before
  them is discarded), every checksum and address is checked, a corrupted image is uploaded again,
  and I/O errors become :class:`DeviceDisconnected`.
* Opening (with its fallbacks) and capturing are long, branching exchanges that the UI must be
  able to cancel.  They are written as explicit state machines in libfprint's model (its
  ``fpi-ssm``): :class:`OpenState` and :class:`CaptureState` name the states, one method per state
  does that state's I/O and returns the next state, and one runner
  (:func:`drivers.fingerprint.base.run_state_machine`) logs every state entered at DEBUG and checks
  the cancel event between states.  Every wait in them also checks the cancel event between read
  slices, so :class:`Cancelled` comes within ~50 ms; the one exception is the short stretch of
  negotiation in which the module may be at a rate nobody has verified (:data:`RATE_IN_DOUBT`).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import serial

from drivers.device import DeviceInfo, DeviceKind, SelfTestResult
from drivers.errors import (
    Cancelled,
    DeviceAccessDenied,
    DeviceBusy,
    DeviceDisconnected,
    DeviceError,
    DeviceNotFound,
    DeviceTimeout,
    ProtocolError,
)
from drivers.fingerprint.base import FingerImage, FingerprintScanner, run_state_machine
from drivers.traffic import MAX_LOGGED_BYTES, summary

log = logging.getLogger(__name__)
traffic_log = logging.getLogger(__name__ + ".traffic")

# Packet: start code EF 01 | address u32 | PID u8 | length u16 (= payload + 2) | payload | sum u16,
# sum = PID + both length bytes + payload bytes, carries past 16 bits dropped; the address is not
# summed (ZFM-20 datasheet, "packet format").  Longest payload 256 bytes.
START_CODE = b"\xef\x01"
HEADER_SIZE = 9
MAX_PAYLOAD = 256
DEFAULT_ADDRESS = 0xFFFFFFFF

PID_COMMAND = 0x01
PID_DATA = 0x02
PID_ACK = 0x07
PID_END_OF_DATA = 0x08
PACKET_KINDS = {PID_COMMAND: "command", PID_DATA: "data", PID_ACK: "acknowledge", PID_END_OF_DATA: "last data"}

# Instruction codes (ZFM-20 datasheet; AuraLedConfig from the R503 manual via
# Adafruit_CircuitPython_Fingerprint ``set_led``: control, speed, colour, count).
GEN_IMG = 0x01
UP_IMAGE = 0x0A
SET_SYS_PARA = 0x0E
READ_SYS_PARA = 0x0F
VFY_PWD = 0x13
AURA_LED_CONFIG = 0x35

SYS_PARA_BAUD = 4
"""SetSysPara parameter 4: baud multiplier N, baud = 9600 x N, N = 1..12."""
BAUD_UNIT = 9600
MAX_BAUD_MULTIPLIER = 12
DEFAULT_BAUD = 57600

CONFIRMATION_CODES: dict[int, str] = {
    0x00: "OK",
    0x01: "error receiving the packet",
    0x02: "no finger on the sensor",
    0x03: "failed to enrol the finger image",
    0x06: "image too messy to generate features",
    0x07: "too few feature points (or image too small) to generate features",
    0x08: "fingers do not match",
    0x09: "no matching finger found",
    0x0A: "failed to combine the character files",
    0x0B: "page address beyond the finger library",
    0x0C: "error reading the template from the library, or invalid template",
    0x0D: "error uploading the template",
    0x0E: "module cannot receive the following data packets",
    0x0F: "error uploading the image",
    0x10: "failed to delete the template",
    0x11: "failed to clear the finger library",
    0x13: "wrong password",
    0x15: "no valid primary image in the image buffer",
    0x18: "error writing flash",
    0x1A: "invalid register number",
    0x20: "address error",
    0x21: "password must be verified first",
}
"""Confirmation code -> meaning (ZFM-20 datasheet's table; Adafruit_Fingerprint.h names)."""

PACKET_SIZES = {0: 32, 1: 64, 2: 128, 3: 256}
"""ReadSysPara data packet size code -> payload bytes per data packet."""

IMAGE_WIDTH = 256
IMAGE_HEIGHT = 288
IMAGE_BYTES = IMAGE_WIDTH * IMAGE_HEIGHT // 2
"""UpImage sends 4 bits per pixel, two horizontally adjacent pixels per byte, high nibble first."""


def meaning(code: int) -> str:
    """What a confirmation code means, for messages."""
    return CONFIRMATION_CODES.get(code, "undocumented confirmation code")


# --------------------------------------------------------------------------- packet codec


@dataclass(frozen=True)
class Packet:
    """One packet of the R30x protocol."""

    address: int
    pid: int
    payload: bytes

    @property
    def kind(self) -> str:
        return PACKET_KINDS.get(self.pid, f"PID {self.pid:02X}")


def packet_checksum(pid: int, payload: bytes) -> int:
    """The packet's sum: PID + length (2 bytes) + payload, modulo 65536."""
    length = len(payload) + 2
    return (pid + (length >> 8) + (length & 0xFF) + sum(payload)) & 0xFFFF


def encode_packet(address: int, pid: int, payload: bytes) -> bytes:
    """The bytes of one packet on the wire."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte maximum")
    return (
        START_CODE
        + address.to_bytes(4, "big")
        + bytes([pid])
        + (len(payload) + 2).to_bytes(2, "big")
        + payload
        + packet_checksum(pid, payload).to_bytes(2, "big")
    )


class PacketParser:
    """Cuts the byte stream from the module into packets.

    Resynchronises on the start code: bytes before it (noise, the tail of a broken packet, a
    stray header with a foreign address or an impossible PID or length) are discarded and counted
    in :attr:`junk_bytes`.  A well-formed packet with a wrong sum raises :class:`ProtocolError`
    (it is consumed, so parsing can go on).
    """

    def __init__(self, address: int) -> None:
        self.address = address
        self._buffer = bytearray()
        self.junk_bytes = 0
        """Bytes discarded since the last :meth:`reset_junk`."""
        self.junk_reasons: list[str] = []

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def clear(self) -> None:
        """Forget buffered bytes (after a baud change or a failed transfer)."""
        self._buffer.clear()

    def reset_junk(self) -> None:
        self.junk_bytes = 0
        self.junk_reasons = []

    def bytes_needed(self) -> int:
        """How many more bytes complete the packet being received (at least 1)."""
        buffer = self._buffer
        if len(buffer) >= HEADER_SIZE and buffer.startswith(START_CODE):
            return max(1, HEADER_SIZE + int.from_bytes(buffer[7:9], "big") - len(buffer))
        return max(1, HEADER_SIZE - len(buffer))

    def _discard(self, count: int, reason: str) -> None:
        traffic_log.debug("junk (%s): %s", reason, summary(bytes(self._buffer[:count]), head=16))
        del self._buffer[:count]
        self.junk_bytes += count
        if reason not in self.junk_reasons:
            self.junk_reasons.append(reason)

    def next_packet(self) -> Packet | None:
        """The next complete packet, or None until more bytes arrive."""
        buffer = self._buffer
        while True:
            start = buffer.find(START_CODE)
            if start < 0:
                # Keep a trailing EF: it may be the first half of the next start code.
                keep = 1 if buffer.endswith(START_CODE[:1]) else 0
                if len(buffer) > keep:
                    self._discard(len(buffer) - keep, "bytes without a start code")
                return None
            if start:
                self._discard(start, "bytes before a start code")
            if len(buffer) < HEADER_SIZE:
                return None
            address = int.from_bytes(buffer[2:6], "big")
            pid = buffer[6]
            length = int.from_bytes(buffer[7:9], "big")
            if address != self.address:
                self._discard(1, f"start code followed by address 0x{address:08X}, not 0x{self.address:08X}")
                continue
            if pid not in PACKET_KINDS:
                self._discard(1, f"start code followed by unknown PID {pid:02X}")
                continue
            if not 2 <= length <= MAX_PAYLOAD + 2:
                self._discard(1, f"start code followed by impossible length {length}")
                continue
            end = HEADER_SIZE + length
            if len(buffer) < end:
                return None
            payload = bytes(buffer[HEADER_SIZE : end - 2])
            got = int.from_bytes(buffer[end - 2 : end], "big")
            del buffer[:end]
            packet = Packet(address, pid, payload)
            computed = packet_checksum(pid, payload)
            if got != computed:
                raise ProtocolError(
                    f"bad checksum in {packet.kind} packet: got 0x{got:04X}, computed 0x{computed:04X}"
                )
            return packet


@dataclass(frozen=True)
class SystemParameters:
    """ReadSysPara's answer (after the confirmation code: 7 x u16 except the u32 address)."""

    status: int
    system_id: int
    library_size: int
    security_level: int
    address: int
    packet_size_code: int
    baud_multiplier: int

    @classmethod
    def from_payload(cls, data: bytes) -> SystemParameters:
        if len(data) != 16:
            raise ProtocolError(f"ReadSysPara answered {len(data)} bytes of parameters, expected 16")
        fields = (
            int.from_bytes(data[0:2], "big"),
            int.from_bytes(data[2:4], "big"),
            int.from_bytes(data[4:6], "big"),
            int.from_bytes(data[6:8], "big"),
            int.from_bytes(data[8:12], "big"),
            int.from_bytes(data[12:14], "big"),
            int.from_bytes(data[14:16], "big"),
        )
        params = cls(*fields)
        if params.packet_size_code not in PACKET_SIZES:
            raise ProtocolError(f"ReadSysPara reported packet size code {params.packet_size_code}, not 0..3")
        return params

    @property
    def packet_size(self) -> int:
        return PACKET_SIZES[self.packet_size_code]


# --------------------------------------------------------------------------- the serial line


def _open_serial(port: str, baudrate: int, read_slice_s: float, write_timeout: float) -> serial.Serial:
    """Open ``port``, turning pyserial's errors into the driver's typed errors."""
    try:
        return serial.Serial(port, baudrate, timeout=read_slice_s, write_timeout=write_timeout, exclusive=True)
    except serial.SerialException as error:
        code = error.errno
        if code in (errno.EACCES, errno.EPERM):
            raise DeviceAccessDenied(f"no permission to open {port}: {error}", device=port) from error
        if code in (errno.EBUSY, errno.EAGAIN):
            raise DeviceBusy(f"{port} is in use by another program: {error}", device=port) from error
        raise DeviceNotFound(f"cannot open {port}: {error}", device=port) from error


class _Link:
    """One serial line to one module: command packets out, packets in, baud changes.

    Every wait (:meth:`receive`, :meth:`drain`) takes an optional cancel event and checks it
    between read slices, so a set event ends the wait with :class:`Cancelled` within one slice.
    """

    #: pyserial read timeout: reads return at least this often, so deadlines and cancellation are
    #: kept to ~50 ms.
    read_slice_s = 0.05

    def __init__(self, port: str, baudrate: int, address: int, write_timeout: float) -> None:
        self.port = port
        self.address = address
        self._serial = _open_serial(port, baudrate, self.read_slice_s, write_timeout)
        self.parser = PacketParser(address)
        self.abandoned = False
        """An exchange on this line was cancelled: the module may still be sending its reply (the
        module cannot be told to stop), so the line must be drained before the next command."""

    @property
    def baudrate(self) -> int:
        return int(self._serial.baudrate)

    def set_baudrate(self, baudrate: int) -> None:
        """Reconfigure the port's line speed and forget anything received at the old one."""
        try:
            self._serial.baudrate = baudrate
            self._serial.reset_input_buffer()
        except (serial.SerialException, OSError) as error:
            raise DeviceDisconnected(f"cannot set {baudrate} baud: {error}", device=self.port) from error
        self.parser.clear()

    def close(self) -> None:
        try:
            self._serial.close()
        except (serial.SerialException, OSError) as error:
            log.debug("closing %s: %s", self.port, error)

    def send(self, instruction: int, params: bytes = b"") -> None:
        packet = encode_packet(self.address, PID_COMMAND, bytes([instruction]) + params)
        traffic_log.debug("tx %s", packet.hex(" "))
        try:
            self._serial.write(packet)
        except serial.SerialTimeoutException as error:
            raise DeviceTimeout(f"writing to {self.port} timed out", device=self.port) from error
        except (serial.SerialException, OSError) as error:
            raise DeviceDisconnected(f"write failed: {error}", device=self.port) from error

    def _read_some(self) -> bytes:
        """What has arrived, waiting up to one read slice for the rest of the packet in progress."""
        try:
            return self._serial.read(max(self._serial.in_waiting, self.parser.bytes_needed()))
        except (serial.SerialException, OSError) as error:
            raise DeviceDisconnected(f"read failed: {error}", device=self.port) from error

    def receive(self, timeout: float, what: str, cancel: threading.Event | None = None) -> Packet:
        """The next packet, within ``timeout`` seconds; ``what`` names it in the error."""
        deadline = time.monotonic() + timeout
        self.parser.reset_junk()
        while True:
            packet = self.parser.next_packet()
            if packet is not None:
                if self.parser.junk_bytes:
                    log.warning(
                        "%s: resynchronised: discarded %d bytes (%s)",
                        self.port, self.parser.junk_bytes, "; ".join(self.parser.junk_reasons),
                    )
                if traffic_log.isEnabledFor(logging.DEBUG):
                    wire = encode_packet(packet.address, packet.pid, packet.payload)
                    # Image data packets (PID 02/08) are the fingerprint itself: header only.
                    image = packet.pid in (PID_DATA, PID_END_OF_DATA)
                    traffic_log.debug("rx %s", summary(wire, head=HEADER_SIZE if image else MAX_LOGGED_BYTES))
                return packet
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"{self.port}: cancelled while waiting for the {what}")
            if time.monotonic() >= deadline:
                junk = ""
                if self.parser.junk_bytes:
                    junk = f" (discarded {self.parser.junk_bytes} bytes: {'; '.join(self.parser.junk_reasons)})"
                raise DeviceTimeout(
                    f"no {what} within {timeout:g} s at {self.baudrate} baud{junk}", device=self.port
                )
            self.parser.feed(self._read_some())

    def command(
        self, instruction: int, params: bytes, *, timeout: float, name: str, cancel: threading.Event | None = None
    ) -> tuple[int, bytes]:
        """Send a command and return (confirmation code, rest of the acknowledgement's payload)."""
        self.send(instruction, params)
        ack = self.receive(timeout, f"acknowledgement to {name}", cancel)
        if ack.pid != PID_ACK or not ack.payload:
            raise ProtocolError(
                f"expected an acknowledge packet to {name}, got a {ack.kind} packet of {len(ack.payload)} bytes",
                device=self.port,
            )
        return ack.payload[0], ack.payload[1:]

    def drain(self, quiet_s: float, limit_s: float, cancel: threading.Event | None = None) -> int:
        """Read and drop bytes until the line has been quiet for ``quiet_s`` (at most ``limit_s``).

        Used when the module may still be sending (the rest of a broken upload): its packets must
        not be taken for the answer to the next command.
        """
        dropped = 0
        end = time.monotonic() + limit_s
        quiet_since = time.monotonic()
        while time.monotonic() < end and time.monotonic() - quiet_since < quiet_s:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"{self.port}: cancelled while draining the line ({dropped} bytes dropped)")
            try:
                data = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError) as error:
                raise DeviceDisconnected(f"read failed: {error}", device=self.port) from error
            if data:
                dropped += len(data)
                quiet_since = time.monotonic()
        self.parser.clear()
        if dropped:
            log.info("%s: drained %d bytes left on the line", self.port, dropped)
        return dropped


# --------------------------------------------------------------------------- the state machines


class OpenState(enum.Enum):
    """The states of :meth:`R30xScanner.open`, in the order a straightforward open visits them.

    Negotiation tries the candidate rates fastest first; each fallback names the state it takes::

        DRAIN -> HANDSHAKE -> READ_PARAMETERS -> [RESTORE_STORED_RATE] -> TRY_RATE -> VERIFY_NEW_RATE -> READY
        READ_PARAMETERS, nothing faster to try .. -> [RESTORE_STORED_RATE] -> READY
        TRY_RATE refused ........................ -> TRY_RATE (next lower rate) or READY
        TRY_RATE without a clean acknowledgement  -> LOCATE
        VERIFY_NEW_RATE without an answer ....... -> VERIFY_OLD_RATE
        VERIFY_OLD_RATE answered (kept old rate)  -> RESTORE_STORED_RATE -> READY
        VERIFY_OLD_RATE without an answer ....... -> COMMAND_BACK_BLIND -> VERIFY_BACK_AT_OLD_RATE
        VERIFY_BACK_AT_OLD_RATE answered ........ -> TRY_RATE (next lower rate) or READY
        VERIFY_BACK_AT_OLD_RATE without an answer -> LOCATE -> [RESTORE_STORED_RATE] -> READY
    """

    DRAIN = enum.auto()
    """Let a module still streaming (an upload the previous session abandoned) finish."""
    HANDSHAKE = enum.auto()
    """VfyPwd at the configured rate, then at every other 9600 x N (the rate is kept in flash)."""
    READ_PARAMETERS = enum.auto()
    """ReadSysPara; choose the rates to try."""
    RESTORE_STORED_RATE = enum.auto()
    """Store the rate the module runs at, where flash holds another one."""
    TRY_RATE = enum.auto()
    """SetSysPara(4, N) at the old rate; if acknowledged, let the module settle and follow it."""
    VERIFY_NEW_RATE = enum.auto()
    """ReadSysPara at the new rate."""
    VERIFY_OLD_RATE = enum.auto()
    """ReadSysPara at the old rate: a clone that acknowledged but applies the rate at power-up."""
    COMMAND_BACK_BLIND = enum.auto()
    """The module switched but its answers are unreadable there: SetSysPara(4, old) unanswered."""
    VERIFY_BACK_AT_OLD_RATE = enum.auto()
    """ReadSysPara at the old rate after commanding the module back."""
    LOCATE = enum.auto()
    """Find the module at any 9600 x N after a switch went wrong."""
    READY = enum.auto()
    """Terminal: the module answers at the link's rate; open() keeps the link."""


RATE_IN_DOUBT = frozenset({OpenState.VERIFY_NEW_RATE, OpenState.VERIFY_OLD_RATE, OpenState.COMMAND_BACK_BLIND})
"""Open states that run between a rate change the module acknowledged and the point where it is
known to answer (or has been commanded back).  Abandoning the module here could leave it at a
rate whose answers never come through, which no later open() finds: its search only listens.
So these states are entered even when the cancel event is set, their waits (and TRY_RATE's, from
the moment SetSysPara goes out) ignore it, and the cancel takes effect on entering the next state.
That delays a cancel by about two seconds at most (two settling pauses, four short questions and
a short drain)."""


class CaptureState(enum.Enum):
    """The states of :meth:`R30xScanner.capture`::

        TAKE_IMAGE -> UPLOAD -> RECEIVE -> DONE
        UPLOAD with a corrupted acknowledgement, RECEIVE with a broken transfer -> DRAIN_AND_RETRY
        DRAIN_AND_RETRY -> UPLOAD (while retries are left; then the last failure is raised)
    """

    TAKE_IMAGE = enum.auto()
    """GenImg, unless finger_present() latched an image recently enough to upload that one."""
    UPLOAD = enum.auto()
    """UpImage and its acknowledgement."""
    RECEIVE = enum.auto()
    """The image's data packets, checked packet by packet and in total."""
    DRAIN_AND_RETRY = enum.auto()
    """Drain the rest of a broken transfer, then ask again."""
    DONE = enum.auto()
    """Terminal: the whole image has arrived."""


@dataclass
class _Opening:
    """What the open states share (libfprint keeps this as the SSM's data)."""

    link: _Link
    cancel: threading.Event | None
    old: int = 0
    """Baud multiplier the module ran at when negotiation began: where every fallback returns."""
    new: int = 0
    """Baud multiplier being tried."""
    candidates: Iterator[int] = field(default_factory=lambda: iter(()))
    """Multipliers still to try, fastest first."""
    settled: bool = False
    """The module's rate is final (it kept the old one, or was found elsewhere): once that rate is
    stored, RESTORE_STORED_RATE ends the machine instead of trying the next rate."""


@dataclass
class _Capturing:
    """What the capture states share."""

    link: _Link
    cancel: threading.Event | None
    attempts: int
    """UpImage requests allowed: 1 + image_upload_retries."""
    attempt: int = 0
    failure: ProtocolError | DeviceTimeout | None = None
    """Why the last upload attempt failed."""
    taken_at: datetime | None = None
    image: bytes = b""


# --------------------------------------------------------------------------- the scanner


class R30xScanner(FingerprintScanner):
    """A ZFM-20 / AS608 / R30x (R503...) module on a serial port.

    ``baudrate`` is the rate the module is expected at (57600 unless reconfigured); after the
    handshake the driver switches to the fastest 9600 x N not above ``max_baudrate`` that works.
    ``address`` and ``password`` are the module's (defaults FFFFFFFF and 0).
    """

    image_upload_retries = 2
    """How many times a corrupted / truncated / interrupted image upload is tried again."""
    baud_settle_s = 0.25
    """Pause after SetSysPara before using the new rate (Adafruit's library waits 0.25 s)."""
    answer_timeout_s = 0.3
    """Short timeout for questions asked while searching or verifying a baud rate."""
    fresh_image_max_age_s = 2.0
    """An image latched by finger_present() is uploaded by capture() only if it is this recent."""

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = DEFAULT_BAUD,
        address: int = DEFAULT_ADDRESS,
        password: int = 0,
        max_baudrate: int = 115200,
        timeout: float = 1.0,
        ppi: int = 500,
    ) -> None:
        self._port = port
        self._baudrate = baudrate
        self._address = address
        self._password = password
        self._max_baudrate = max_baudrate
        self._timeout = timeout
        self._ppi = ppi
        self._lock = threading.RLock()
        self._link: _Link | None = None
        self._params: SystemParameters | None = None
        self._has_led: bool | None = None
        self._image_taken_at: datetime | None = None
        self._image_fresh_until = 0.0
        self._disconnected = False

    # ----------------------------------------------------------------- lifecycle

    def open(self, cancel: threading.Event | None = None) -> None:
        """Find the module, learn its parameters and switch to the fastest rate that works.

        Runs the :class:`OpenState` machine.  Setting ``cancel`` (from any thread) raises
        :class:`Cancelled` within one read slice, with the port closed; while the module's rate is
        in doubt the cancel waits until it is not (:data:`RATE_IN_DOUBT`).  A later open() finds
        the module wherever a cancelled one left it.
        """
        with self._lock:
            if self._link is not None:
                return
            link = _Link(self._port, self._baudrate, self._address, write_timeout=self._timeout)
            transitions: dict[OpenState, Callable[[_Opening], OpenState]] = {
                OpenState.DRAIN: self._open_drain,
                OpenState.HANDSHAKE: self._open_handshake,
                OpenState.READ_PARAMETERS: self._open_read_parameters,
                OpenState.RESTORE_STORED_RATE: self._open_restore_stored_rate,
                OpenState.TRY_RATE: self._open_try_rate,
                OpenState.VERIFY_NEW_RATE: self._open_verify_new_rate,
                OpenState.VERIFY_OLD_RATE: self._open_verify_old_rate,
                OpenState.COMMAND_BACK_BLIND: self._open_command_back_blind,
                OpenState.VERIFY_BACK_AT_OLD_RATE: self._open_verify_back_at_old_rate,
                OpenState.LOCATE: self._open_locate,
            }
            try:
                run_state_machine(
                    "open", self._port, transitions, _Opening(link, cancel),
                    start=OpenState.DRAIN, final=OpenState.READY, cancel=cancel, uncancellable=RATE_IN_DOUBT,
                )
            except BaseException:
                link.close()
                raise
            self._link = link
            self._disconnected = False
            log.info("%s: %s ready at %d baud", self._port, self.info().model, link.baudrate)

    def close(self) -> None:
        with self._lock:
            if self._link is not None:
                self._link.close()
                self._link = None
            self._image_taken_at = None

    @property
    def baudrate(self) -> int:
        """The line speed in use (after negotiation)."""
        return self._require_link().baudrate

    @property
    def system_parameters(self) -> SystemParameters | None:
        """What the module reported in its last ReadSysPara."""
        return self._params

    def info(self) -> DeviceInfo:
        model = "R30x-compatible"
        if self._params is not None:
            model += f" (sys id 0x{self._params.system_id:04X})"
        return DeviceInfo(kind=DeviceKind.FINGERPRINT, model=model, address=self._port)

    def _require_link(self) -> _Link:
        if self._link is None:
            if self._disconnected:
                raise DeviceDisconnected(
                    "the module was disconnected; open() again once it is back", device=self._port
                )
            raise DeviceError("the scanner is not open", device=self._port, hint="call open() first")
        return self._link

    @contextlib.contextmanager
    def _session(self, cancel: threading.Event | None = None) -> Iterator[_Link]:
        """The open link, held against other threads.

        A disconnect closes it so open() can start over.  A cancelled exchange marks the link
        abandoned (the module may still be sending the rest of it), and the next session drains the
        line before its first command: cancelling is prompt, and the next command still works.
        """
        with self._lock:
            link = self._require_link()
            try:
                if link.abandoned:
                    self._resync(link, cancel)
                yield link
            except Cancelled:
                link.abandoned = True
                raise
            except DeviceDisconnected:
                self.close()
                self._disconnected = True
                raise

    def _resync(self, link: _Link, cancel: threading.Event | None) -> None:
        """Drop what a cancelled exchange may still send: the rest of an upload, or an acknowledgement.

        The line must stay quiet for the command timeout, within which an acknowledgement still
        owed arrives; the limit (twice an upload's image bytes plus that) only ends a line that
        never goes quiet.
        """
        log.info("%s: draining the line after a cancelled exchange", self._port)
        upload_s = IMAGE_BYTES * 10 / link.baudrate
        link.drain(quiet_s=self._timeout, limit_s=2 * (upload_s + self._timeout), cancel=cancel)
        link.abandoned = False

    # ----------------------------------------------------------------- open: handshake and baud rate

    def _open_drain(self, run: _Opening) -> OpenState:
        """A module still streaming (an upload the previous session abandoned) must finish first."""
        run.link.drain(quiet_s=0.05, limit_s=IMAGE_BYTES * 10 / self._baudrate + self._timeout, cancel=run.cancel)
        return OpenState.HANDSHAKE

    def _open_handshake(self, run: _Opening) -> OpenState:
        """VfyPwd at the configured rate, then at every other 9600 x N (the rate is kept in flash)."""
        link = run.link
        others = [BAUD_UNIT * n for n in range(MAX_BAUD_MULTIPLIER, 0, -1) if BAUD_UNIT * n != self._baudrate]
        failures: list[str] = []
        for rate in [self._baudrate, *others]:
            if rate != link.baudrate:
                link.set_baudrate(rate)
            timeout = self._timeout if rate == self._baudrate else self.answer_timeout_s
            try:
                code, _ = link.command(
                    VFY_PWD, self._password.to_bytes(4, "big"), timeout=timeout, name="VfyPwd", cancel=run.cancel
                )
            except (DeviceTimeout, ProtocolError) as error:
                failures.append(f"{rate}: {error.detail}")
                continue
            if code == 0x13:
                raise DeviceAccessDenied(
                    "the module rejected the password (VfyPwd: confirmation code 0x13, wrong password): "
                    "the module password in the configuration does not match the module's password",
                    device=self._port,
                    hint="Set the fingerprint module's password in the station configuration to the one "
                    "programmed into the module (0 unless someone changed it).",
                )
            if code != 0x00:
                raise self._confirmation_error("VfyPwd", code)
            if rate != self._baudrate:
                log.warning(
                    "%s: module answered at %d baud, not at the configured %d", self._port, rate, self._baudrate
                )
            return OpenState.READ_PARAMETERS
        raise DeviceTimeout(
            f"no answer to VfyPwd from a module at address 0x{self._address:08X} at any baud rate "
            f"from 9600 to 115200 ({'; '.join(failures[:2])}; ...)",
            device=self._port,
            hint="Check the module's power and TX/RX wiring, and its address in the configuration.",
        )

    def _open_read_parameters(self, run: _Opening) -> OpenState:
        """ReadSysPara; then negotiate towards the fastest 9600 x N <= max_baudrate, fastest first."""
        link = run.link
        params = self._params = self._read_sys_para(link, self._timeout, run.cancel)
        current = link.baudrate
        if current % BAUD_UNIT:
            log.info("%s: %d baud is not 9600 x N; not negotiating", self._port, current)
            return OpenState.READY
        run.old = current // BAUD_UNIT
        target = min(MAX_BAUD_MULTIPLIER, self._max_baudrate // BAUD_UNIT)
        run.candidates = iter(range(target, run.old, -1))
        if params.baud_multiplier != run.old:
            # A rate stored but not applied (a clone that waits for a power cycle): after the next
            # power cycle the module would come up where the station may never look for it.
            return OpenState.RESTORE_STORED_RATE
        return self._next_rate(run)

    def _next_rate(self, run: _Opening) -> OpenState:
        """TRY_RATE with the next lower candidate, or READY at the current rate if none is left."""
        new = next(run.candidates, None)
        if new is None:
            log.info("%s: staying at %d baud", self._port, run.link.baudrate)
            return OpenState.READY
        run.new = new
        return OpenState.TRY_RATE

    def _open_restore_stored_rate(self, run: _Opening) -> OpenState:
        """Store the rate the module runs at now, so a power cycle brings it up where it runs."""
        link = run.link
        multiplier = link.baudrate // BAUD_UNIT
        code = self._set_baud_multiplier(link, multiplier, run.cancel)
        if code != 0x00:
            raise self._confirmation_error(f"SetSysPara(4, {multiplier})", code)
        self._params = self._read_sys_para(link, self._timeout, run.cancel)
        log.info("%s: stored baud multiplier %d (%d baud) again", self._port, multiplier, multiplier * BAUD_UNIT)
        return OpenState.READY if run.settled else self._next_rate(run)

    def _open_try_rate(self, run: _Opening) -> OpenState:
        """Ask for 9600 x ``run.new``; once acknowledged, wait for the module to settle and follow it.

        From the moment SetSysPara goes out the module may be switching, so nothing here waits on
        the cancel event (see :data:`RATE_IN_DOUBT`).
        """
        link, new = run.link, run.new
        try:
            code = self._set_baud_multiplier(link, new)
        except (DeviceTimeout, ProtocolError) as error:
            log.warning("%s: SetSysPara(4, %d) got no clean acknowledgement (%s)", self._port, new, error.detail)
            return OpenState.LOCATE
        if code != 0x00:
            log.info("%s: module refused %d baud: %s", self._port, new * BAUD_UNIT, meaning(code))
            return self._next_rate(run)
        time.sleep(self.baud_settle_s)
        link.set_baudrate(new * BAUD_UNIT)
        return OpenState.VERIFY_NEW_RATE

    def _open_verify_new_rate(self, run: _Opening) -> OpenState:
        """Does the module answer at the new rate?  Then negotiation is over."""
        params = self._answers(run.link)
        if params is None:
            return OpenState.VERIFY_OLD_RATE
        self._params = params
        log.info("%s: switched to %d baud", self._port, run.link.baudrate)
        return OpenState.READY

    def _open_verify_old_rate(self, run: _Opening) -> OpenState:
        """Does the module still answer at the old rate (it acknowledged, but kept running there)?"""
        link, old, new = run.link, run.old, run.new
        link.set_baudrate(old * BAUD_UNIT)
        params = self._answers(link)
        if params is None:
            return OpenState.COMMAND_BACK_BLIND
        # This clone applies the rate at the next power cycle.  Lower rates would fare the same;
        # put the old rate back into flash.
        log.warning(
            "%s: module acknowledged %d baud but kept running at %d (it applies the rate only after a "
            "power cycle); staying at %d",
            self._port, new * BAUD_UNIT, old * BAUD_UNIT, old * BAUD_UNIT,
        )
        self._params = params
        run.settled = True
        return OpenState.RESTORE_STORED_RATE

    def _open_command_back_blind(self, run: _Opening) -> OpenState:
        """It switched, but replies at the new rate do not come through: command it back unanswered."""
        link, old, new = run.link, run.old, run.new
        log.warning("%s: module switched to %d baud but its answers are unreadable there", self._port, new * BAUD_UNIT)
        link.set_baudrate(new * BAUD_UNIT)
        link.send(SET_SYS_PARA, bytes([SYS_PARA_BAUD, old]))
        link.drain(quiet_s=0.05, limit_s=self.answer_timeout_s)
        time.sleep(self.baud_settle_s)
        link.set_baudrate(old * BAUD_UNIT)
        return OpenState.VERIFY_BACK_AT_OLD_RATE

    def _open_verify_back_at_old_rate(self, run: _Opening) -> OpenState:
        """Did the blind command bring the module back?  Then try the next lower rate."""
        params = self._answers(run.link, run.cancel)
        if params is None:
            return OpenState.LOCATE
        self._params = params
        log.info("%s: back at %d baud; trying a lower rate", self._port, run.link.baudrate)
        return self._next_rate(run)

    def _open_locate(self, run: _Opening) -> OpenState:
        """Find the module at any 9600 x N after a switch went wrong; leave the line at that rate."""
        link = run.link
        rates = [link.baudrate] + [BAUD_UNIT * n for n in range(MAX_BAUD_MULTIPLIER, 0, -1)]
        for rate in dict.fromkeys(rates):
            link.set_baudrate(rate)
            params = self._answers(link, run.cancel)
            if params is not None:
                self._params = params
                log.warning("%s: module found at %d baud after a failed baud change", self._port, rate)
                if params.baud_multiplier * BAUD_UNIT != rate:
                    run.settled = True
                    return OpenState.RESTORE_STORED_RATE
                return OpenState.READY
        raise DeviceTimeout(
            "the module stopped answering during baud negotiation and answers at no rate from 9600 to 115200",
            device=self._port,
            hint="Power-cycle the fingerprint module; lower max_baudrate in the configuration if it repeats.",
        )

    def _read_sys_para(self, link: _Link, timeout: float, cancel: threading.Event | None = None) -> SystemParameters:
        code, data = link.command(READ_SYS_PARA, b"", timeout=timeout, name="ReadSysPara", cancel=cancel)
        if code != 0x00:
            raise self._confirmation_error("ReadSysPara", code)
        return SystemParameters.from_payload(data)

    def _answers(self, link: _Link, cancel: threading.Event | None = None) -> SystemParameters | None:
        """ReadSysPara at the link's current rate (two tries), or None if nothing sensible comes back."""
        for _ in range(2):
            try:
                return self._read_sys_para(link, self.answer_timeout_s, cancel)
            except (DeviceTimeout, ProtocolError) as error:
                log.debug("%s: no valid answer at %d baud: %s", self._port, link.baudrate, error.detail)
        return None

    def _set_baud_multiplier(self, link: _Link, multiplier: int, cancel: threading.Event | None = None) -> int:
        """SetSysPara(4, N); returns the confirmation code."""
        code, _ = link.command(
            SET_SYS_PARA, bytes([SYS_PARA_BAUD, multiplier]), timeout=self._timeout,
            name=f"SetSysPara(4, {multiplier})", cancel=cancel,
        )
        return code

    # ----------------------------------------------------------------- errors

    def _confirmation_error(self, name: str, code: int) -> DeviceError:
        """The typed error for a confirmation code other than the ones the caller handles."""
        detail = f"{name} failed: confirmation code 0x{code:02X} ({meaning(code)})"
        if code == 0x01:
            return ProtocolError(detail, device=self._port)
        if code == 0x21:
            return DeviceAccessDenied(detail, device=self._port)
        return DeviceError(detail, device=self._port)

    # ----------------------------------------------------------------- sensing and imaging

    def finger_present(self) -> bool:
        """GenImg: 00 -> True (the image is now in the module's buffer), 02 -> False."""
        with self._session() as link:
            return self._gen_img(link)

    def _gen_img(self, link: _Link, cancel: threading.Event | None = None) -> bool:
        """finger_present() on a link already held (capture's TAKE_IMAGE passes its cancel event)."""
        code, _ = link.command(GEN_IMG, b"", timeout=self._timeout, name="GenImg", cancel=cancel)
        if code == 0x00:
            self._image_taken_at = datetime.now(UTC)
            self._image_fresh_until = time.monotonic() + self.fresh_image_max_age_s
            return True
        self._image_taken_at = None
        if code == 0x02:
            return False
        raise self._confirmation_error("GenImg", code)

    def capture(self, cancel: threading.Event | None = None) -> FingerImage:
        """Upload the image GenImg latched (taking one first unless a fresh one is in the buffer).

        Runs the :class:`CaptureState` machine.  Setting ``cancel`` raises :class:`Cancelled`
        within one read slice, also in the middle of the upload (3.5 s of wire time at 115200
        baud).  The module cannot be told to stop sending, so the link is marked and the next
        command first drains what is left of the exchange (see :meth:`_session`).
        """
        with self._session(cancel) as link:
            run = _Capturing(link, cancel, attempts=1 + self.image_upload_retries)
            transitions: dict[CaptureState, Callable[[_Capturing], CaptureState]] = {
                CaptureState.TAKE_IMAGE: self._capture_take_image,
                CaptureState.UPLOAD: self._capture_upload,
                CaptureState.RECEIVE: self._capture_receive,
                CaptureState.DRAIN_AND_RETRY: self._capture_drain_and_retry,
            }
            run_state_machine(
                "capture", self._port, transitions, run, start=CaptureState.TAKE_IMAGE, final=CaptureState.DONE,
                cancel=cancel,
            )
        assert run.taken_at is not None
        packed = np.frombuffer(run.image, dtype=np.uint8).reshape(IMAGE_HEIGHT, IMAGE_WIDTH // 2)
        pixels = np.empty((IMAGE_HEIGHT, IMAGE_WIDTH), dtype=np.uint8)
        pixels[:, 0::2] = packed >> 4
        pixels[:, 1::2] = packed & 0x0F
        pixels *= 17  # 4-bit grey level v -> v * 255 / 15
        return FingerImage(pixels=pixels, ppi=self._ppi, device=self.info(), captured_at=run.taken_at)

    def _capture_take_image(self, run: _Capturing) -> CaptureState:
        """GenImg unless the buffer holds a fresh image; the buffer's image is uploaded once."""
        if self._image_taken_at is None or time.monotonic() > self._image_fresh_until:
            if not self._gen_img(run.link, run.cancel):
                raise DeviceError(
                    "capture: no finger on the sensor (GenImg: confirmation code 0x02)",
                    device=self._port,
                    hint="Wait for a finger (wait_for_finger) before capturing.",
                )
        run.taken_at = self._image_taken_at
        self._image_taken_at = None
        return CaptureState.UPLOAD

    def _capture_upload(self, run: _Capturing) -> CaptureState:
        """UpImage.  A corrupted acknowledgement is retried; a missing one is not (the module is
        silent: the DeviceTimeout goes to the caller at once)."""
        run.attempt += 1
        try:
            code, _ = run.link.command(UP_IMAGE, b"", timeout=self._timeout, name="UpImage", cancel=run.cancel)
        except ProtocolError as error:
            run.failure = error
            return CaptureState.DRAIN_AND_RETRY
        if code != 0x00:
            raise self._confirmation_error("UpImage", code)
        return CaptureState.RECEIVE

    def _capture_receive(self, run: _Capturing) -> CaptureState:
        """The data packets after UpImage's acknowledgement; a bad or short one, or silence in the
        middle of the data, is retried."""
        assert self._params is not None
        try:
            run.image = self._receive_image(run.link, self._params.packet_size, run.cancel)
        except (ProtocolError, DeviceTimeout) as error:
            run.failure = error
            return CaptureState.DRAIN_AND_RETRY
        return CaptureState.DONE

    def _capture_drain_and_retry(self, run: _Capturing) -> CaptureState:
        """Drain what is left of the broken transfer, then ask again ``image_upload_retries`` times;
        after that, raise with the last failure named."""
        link, failure = run.link, run.failure
        assert failure is not None
        log.warning(
            "%s: image upload attempt %d of %d failed: %s", self._port, run.attempt, run.attempts, failure.detail
        )
        wire_time = IMAGE_BYTES * 10 / link.baudrate
        link.drain(quiet_s=max(0.05, 200 * 10 / link.baudrate), limit_s=wire_time + self._timeout, cancel=run.cancel)
        if run.attempt < run.attempts:
            return CaptureState.UPLOAD
        raise type(failure)(
            f"image upload failed {run.attempts} times; last failure: {failure.detail}", device=self._port
        ) from failure

    def _receive_image(self, link: _Link, packet_size: int, cancel: threading.Event | None) -> bytes:
        """The data packets after UpImage's acknowledgement, checked packet by packet and in total."""
        expected_packets = IMAGE_BYTES // packet_size
        received = bytearray()
        number = 0
        while True:
            number += 1
            what = f"data packet {number} of {expected_packets}"
            try:
                packet = link.receive(self._timeout, what, cancel)
            except ProtocolError as error:
                raise ProtocolError(f"image upload, {what}: {error.detail}", device=self._port) from error
            if packet.pid not in (PID_DATA, PID_END_OF_DATA):
                raise ProtocolError(f"image upload, {what}: got a {packet.kind} packet", device=self._port)
            if len(packet.payload) != packet_size:
                raise ProtocolError(
                    f"image upload, {what}: {len(packet.payload)} bytes, expected {packet_size}", device=self._port
                )
            received += packet.payload
            if len(received) > IMAGE_BYTES:
                raise ProtocolError(
                    f"image upload: more than {IMAGE_BYTES} bytes without a last data packet", device=self._port
                )
            if packet.pid == PID_END_OF_DATA:
                break
        if len(received) != IMAGE_BYTES:
            raise ProtocolError(
                f"image upload ended after {len(received)} bytes, expected {IMAGE_BYTES}", device=self._port
            )
        return bytes(received)

    # ----------------------------------------------------------------- LED and self-test

    def _blink_led(self, link: _Link) -> str:
        """Flash the ring LED blue twice where the module has one (R503); remember if it has none."""
        if self._has_led is False:
            return "none"
        try:
            # control 2 = flashing, speed, colour 2 = blue, count (R503 manual, AuraLedConfig).
            code, _ = link.command(
                AURA_LED_CONFIG, bytes([2, 0x40, 2, 2]), timeout=self.answer_timeout_s, name="AuraLedConfig"
            )
        except (DeviceTimeout, ProtocolError) as error:
            code, reason = None, error.detail
        else:
            reason = f"confirmation code 0x{code:02X} ({meaning(code)})"
        self._has_led = code == 0x00
        if not self._has_led:
            log.info("%s: module has no controllable LED (AuraLedConfig: %s)", self._port, reason)
            return f"none (AuraLedConfig: {reason})"
        return "flashed blue"

    def self_test(self) -> SelfTestResult:
        """Handshake, ReadSysPara, one GenImg (no finger expected: 02 passes) and an LED blink."""
        checks: dict[str, str] = {}
        opened_here = self._link is None
        try:
            if opened_here:
                self.open()
            with self._session() as link:
                code, _ = link.command(VFY_PWD, self._password.to_bytes(4, "big"), timeout=self._timeout, name="VfyPwd")
                if code != 0x00:
                    raise self._confirmation_error("VfyPwd", code)
                checks["handshake"] = f"ok at {link.baudrate} baud"
                params = self._read_sys_para(link, self._timeout)
                self._params = params
                checks["system parameters"] = (
                    f"sys id 0x{params.system_id:04X}, library {params.library_size}, security level "
                    f"{params.security_level}, {params.packet_size}-byte packets, stored baud "
                    f"{params.baud_multiplier * BAUD_UNIT}"
                )
                present = self.finger_present()
                checks["sensor"] = "image taken (a finger is on the sensor)" if present else "no finger (0x02): ok"
                checks["led"] = self._blink_led(link)
        except DeviceError as error:
            return SelfTestResult(passed=False, checks=checks, problem=str(error))
        finally:
            if opened_here:
                self.close()
        return SelfTestResult(passed=True, checks=checks)


def probe(port: str, timeout: float = 0.3) -> DeviceInfo | None:
    """Whether an R30x-family module answers on ``port`` (57600 baud, default address and password).

    Harmless for other devices: one VfyPwd and one ReadSysPara packet are written, nothing is
    changed.  Returns None for anything that is not such a module; never raises.
    """
    try:
        link = _Link(port, DEFAULT_BAUD, DEFAULT_ADDRESS, write_timeout=timeout)
    except DeviceError as error:
        log.debug("probe %s: %s", port, error)
        return None
    try:
        code, _ = link.command(VFY_PWD, bytes(4), timeout=timeout, name="VfyPwd")
        if code == 0x13:
            model = "R30x-compatible (password protected)"
        else:
            code, data = link.command(READ_SYS_PARA, b"", timeout=timeout, name="ReadSysPara")
            if code != 0x00:
                return None
            model = f"R30x-compatible (sys id 0x{SystemParameters.from_payload(data).system_id:04X})"
        return DeviceInfo(kind=DeviceKind.FINGERPRINT, model=model, address=port)
    except (DeviceError, serial.SerialException, OSError, ValueError) as error:
        log.debug("probe %s: not an R30x module: %s", port, error)
        return None
    finally:
        link.close()
