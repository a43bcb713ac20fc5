"""Wire-level simulator of a ZFM-20 / AS608 / R30x UART fingerprint module, served on a pty.

The driver under test opens :attr:`R30xSimulator.port` with pyserial exactly as it would open
``/dev/serial/by-id/usb-...`` on a kiosk: the path is a symlink to the slave side of a pty pair,
and a thread answers on the master side.  Everything the driver can observe on a real line is
modelled here, because the driver's hardest code (resynchronisation, retries, baud negotiation and
its fallback, disconnect handling) is only exercised when the line misbehaves the way real ones do:

* bytes leave at the module's baud rate (10 bit times per byte: start, 8 data, stop bit), so an
  image upload takes as long as on the wire (about 6.4 s of image data at 57600 baud);
* the module's baud rate and the rate the driver set on its end of the line are compared for every
  chunk of traffic (the driver's rate is read back from the pty's termios); when they differ, the
  module receives garbage and the driver receives garbage, as with a real UART;
* faults can be scripted: noise, corrupted packets, stalls, unplugging, power cycles, clones that
  apply a new baud only after a power cycle, and lines that are unreliable above some rate.

This module is written independently of ``drivers.fingerprint.r30x`` (it must not import it): the
two ends of the wire are meant to catch each other's mistakes.  Protocol facts come from the ZFM-20
datasheet and Adafruit's libraries, summarised with sources in
``shared/reference/fingerprint-devices.md``.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import math
import os
import random
import select
import shutil
import struct
import tempfile
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import cv2
import numpy as np

log = logging.getLogger(__name__)
traffic_log = logging.getLogger(__name__ + ".traffic")

IMAGE_WIDTH = 256
IMAGE_HEIGHT = 288
"""The sensor image is 256 x 288 pixels (ZFM-20 datasheet, UpImage)."""

BAUD_UNIT = 9600
"""The module's baud rate is 9600 x N, N = 1..12 (ZFM-20 datasheet, SetSysPara parameter 4)."""

# Packet layout: start code EF 01 | address u32 | PID u8 | length u16 (payload + 2) | payload | sum u16
# (ZFM-20 datasheet, "packet format").
_START_CODE = b"\xef\x01"
_HEADER_SIZE = 9
_MAX_PAYLOAD = 256
_PID_COMMAND = 0x01
_PID_DATA = 0x02
_PID_ACK = 0x07
_PID_END_OF_DATA = 0x08

# Confirmation codes (ZFM-20 datasheet; Adafruit_CircuitPython_Fingerprint error constants).
_OK = 0x00
_RECEIVE_ERROR = 0x01
_NO_FINGER = 0x02
_IMAGE_TOO_MESSY = 0x06
_TOO_FEW_FEATURES = 0x07
_NO_MATCH = 0x08
_NOT_FOUND = 0x09
_MERGE_FAILED = 0x0A
_BAD_LOCATION = 0x0B
_TEMPLATE_INVALID = 0x0C
_UPLOAD_IMAGE_FAILED = 0x0F
_WRONG_PASSWORD = 0x13
_NO_VALID_IMAGE = 0x15
_INVALID_REGISTER = 0x1A
_VERIFY_PASSWORD_FIRST = 0x21
_MODULE_OK = 0x55
"""GetEcho's answer on the R503 (Adafruit_CircuitPython_Fingerprint, ``check_module``)."""

_PACKET_SIZES = {0: 32, 1: 64, 2: 128, 3: 256}
"""ReadSysPara / SetSysPara parameter 6: data packet size code -> bytes of payload."""

# Linux: TCGETS2 = _IOR('T', 0x2A, struct termios2).  struct termios2 is 4 x u32 flags, c_line,
# c_cc[19], then c_ispeed and c_ospeed (u32) at offset 36: 44 bytes.  pyserial sets rates such as
# 76800 with BOTHER, which plain tcgetattr() reports only as "BOTHER", so the numeric speeds are
# read with this ioctl (the kernel fills them for standard rates too).
_TCGETS2 = 0x802C542A
_TERMIOS2_SIZE = 44
_TERMIOS2_SPEEDS = 36

_PACING_SLICE_S = 0.004
"""Output is written in slices of this much wire time; a real UART never sends faster."""
_STALE_INPUT_S = 0.5
"""A partial packet older than this is dropped, as a module's receiver times out between bytes."""
_BLOCKED_WRITE_LIMIT_S = 1.0
"""If the host stops reading for this long, the rest of a reply is lost (a UART does not wait)."""
_MATCH_THRESHOLD = 0.8
"""Correlation of two feature maps above which this model calls them the same finger."""


class _Unplugged(Exception):
    """Raised inside the serving thread when its pty pair must go away now."""


@dataclass
class _Plug:
    """One pty pair and the thread serving it: what exists between plugging in and unplugging."""

    master: int
    slave: int
    tty_path: str
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None


@dataclass
class _DataPacketFault:
    """Corrupt data packet ``index`` (0-based) of the next ``uploads`` image uploads (None: all)."""

    index: int
    uploads: int | None


def _frame(address: int, pid: int, payload: bytes) -> bytes:
    """One packet as it goes on the wire; the sum covers PID, length and payload, not the address."""
    length = len(payload) + 2
    body = bytes([pid]) + length.to_bytes(2, "big") + payload
    return _START_CODE + address.to_bytes(4, "big") + body + (sum(body) & 0xFFFF).to_bytes(2, "big")


def _fit_to_sensor(pixels: np.ndarray) -> np.ndarray:
    """Scale ``pixels`` to cover the 256 x 288 sensor window (keeping the aspect), then centre-crop."""
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"a finger image must be 2-D uint8 grey levels, got {pixels.dtype} {pixels.shape}")
    image = np.ascontiguousarray(pixels)
    if image.shape == (IMAGE_HEIGHT, IMAGE_WIDTH):
        return image.copy()
    height, width = image.shape
    scale = max(IMAGE_WIDTH / width, IMAGE_HEIGHT / height)
    size = (max(IMAGE_WIDTH, round(width * scale)), max(IMAGE_HEIGHT, round(height * scale)))
    scaled = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top = (scaled.shape[0] - IMAGE_HEIGHT) // 2
    left = (scaled.shape[1] - IMAGE_WIDTH) // 2
    return np.ascontiguousarray(scaled[top : top + IMAGE_HEIGHT, left : left + IMAGE_WIDTH])


def _features(image: np.ndarray) -> np.ndarray | None:
    """A stand-in for the module's (proprietary) feature extraction: 16 x 16 block means, normalised.

    Enough for Match / Search / RegModel to tell the same placed image from a different one.
    """
    return _normalised(image.reshape(IMAGE_HEIGHT // 16, 16, IMAGE_WIDTH // 16, 16).mean(axis=(1, 3)))


def _normalised(blocks: np.ndarray) -> np.ndarray | None:
    """Zero mean, unit norm (None for a flat map), so that a dot product is a correlation."""
    centred = blocks - blocks.mean()
    norm = float(np.linalg.norm(centred))
    return None if norm == 0 else centred / norm


class R30xSimulator:
    """A simulated R30x-family module at the other end of a pty.

    Use as a context manager (or :meth:`start` / :meth:`stop`); the driver opens :attr:`port`.
    Module state that lives in the module's flash (address, password, stored baud multiplier,
    template library) survives :meth:`power_cycle` and :meth:`replug`; RAM state (image buffer,
    character buffers, password verified, a baud change not yet applied) does not.
    """

    def __init__(
        self,
        *,
        address: int = 0xFFFFFFFF,
        password: int = 0,
        baud: int = 57600,
        packet_size: int = 128,
        system_id: int = 0x0000,
        library_size: int = 162,
        security_level: int = 3,
        has_led: bool = False,
        baud_applies: Literal["immediately", "after_power_cycle"] = "immediately",
        max_working_baud: int | None = None,
        seed: int = 0,
    ) -> None:
        if baud % BAUD_UNIT or not 1 <= baud // BAUD_UNIT <= 12:
            raise ValueError(f"baud must be 9600 x N with N in 1..12, got {baud}")
        size_codes = {size: code for code, size in _PACKET_SIZES.items()}
        if packet_size not in size_codes:
            raise ValueError(f"packet size must be one of {sorted(size_codes)}, got {packet_size}")
        if baud_applies not in ("immediately", "after_power_cycle"):
            raise ValueError(f"baud_applies must be 'immediately' or 'after_power_cycle', got {baud_applies!r}")
        # Flash.
        self._address = address
        self._password = password
        self._stored_multiplier = baud // BAUD_UNIT
        self._packet_size_code = size_codes[packet_size]
        self._system_id = system_id
        self._library_size = library_size
        self._security_level = security_level
        self._library: dict[int, np.ndarray] = {}
        # Model options.
        self._has_led = has_led
        self._baud_applies = baud_applies
        self._max_working_baud = max_working_baud
        self._rng = random.Random(seed)
        # RAM (reset by a power cycle).
        self._baud = baud
        self._password_verified = password == 0
        self._image_buffer: np.ndarray | None = None
        self._char_buffers: dict[int, np.ndarray | None] = {1: None, 2: None}
        self.led: tuple[int, int, int, int] | None = None
        """The last AuraLedConfig (control, speed, colour, count) accepted, if the module has an LED."""
        # The finger on the glass, set by the test ("the citizen").
        self._finger: np.ndarray | None = None
        # Scripted faults.
        self._lock = threading.Lock()
        self._noise_bytes = 0
        self._corrupt_next = False
        self._data_packet_fault: _DataPacketFault | None = None
        self._unplug_after_data_packets: int | None = None
        self._stalled_until = 0.0
        # Observation.
        self.commands_seen: list[int] = []
        """Instruction codes of every command packet accepted (right address, good checksum)."""
        self.bytes_received = 0
        """Bytes that arrived from the host, garbage included."""
        self.bytes_sent = 0
        """Bytes put on the line towards the host, garbage included."""
        # Transport.
        self._dir: Path | None = None
        self._plug: _Plug | None = None
        self._rx_buffer = bytearray()
        self._rx_last = 0.0
        self._rx_line_free = 0.0

    # ----------------------------------------------------------------- lifecycle

    @property
    def port(self) -> str:
        """Stable path of the module's serial port (a symlink, like ``/dev/serial/by-id/...``).

        Absent while unplugged; after :meth:`replug` it points at the new pty.
        """
        if self._dir is None:
            raise RuntimeError("the simulator is not started")
        return str(self._dir / "usb-Simulated_R30x_Fingerprint_Module-if00-port0")

    def start(self) -> R30xSimulator:
        """Create the port and start answering on it."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="r30x-sim-"))
        if self._plug is None:
            self._plug_in()
        return self

    def stop(self) -> None:
        """Unplug and remove the port's directory."""
        self.unplug()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> R30xSimulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- the citizen

    def place_finger(self, pixels: np.ndarray) -> None:
        """Put a finger on the glass: the next GenImg latches this image (scaled/cropped to 256 x 288)."""
        self._finger = _fit_to_sensor(pixels)

    def lift_finger(self) -> None:
        """Take the finger off the glass (an image already latched by GenImg stays in the buffer)."""
        self._finger = None

    # ----------------------------------------------------------------- observation

    @property
    def baud(self) -> int:
        """The rate the module's UART runs at now."""
        return self._baud

    @property
    def stored_baud(self) -> int:
        """The rate stored in flash, which the module comes up at after a power cycle."""
        return self._stored_multiplier * BAUD_UNIT

    @property
    def password(self) -> int:
        return self._password

    @property
    def address(self) -> int:
        return self._address

    @property
    def image_buffer(self) -> np.ndarray | None:
        """The 8-bit image the last successful GenImg latched (before 4-bit packing), if any."""
        return self._image_buffer

    # ----------------------------------------------------------------- faults

    def inject_noise(self, n_bytes: int) -> None:
        """Put ``n_bytes`` random bytes on the line before the next reply."""
        with self._lock:
            self._noise_bytes += n_bytes

    def corrupt_next_packet(self) -> None:
        """Give the next packet the module sends a wrong checksum."""
        with self._lock:
            self._corrupt_next = True

    def corrupt_data_packet(self, index: int, uploads: int | None = 1) -> None:
        """Give data packet ``index`` (0-based) of the next ``uploads`` image uploads a wrong checksum.

        ``uploads=None`` corrupts that packet in every upload from now on.
        """
        with self._lock:
            self._data_packet_fault = _DataPacketFault(index, uploads)

    def unplug_during_upload(self, after_packets: int) -> None:
        """Unplug once ``after_packets`` data packets of the next image upload are on the line."""
        with self._lock:
            self._unplug_after_data_packets = after_packets

    def stall(self, seconds: float) -> None:
        """Stop answering for ``seconds`` (commands arriving meanwhile are lost; output pauses)."""
        with self._lock:
            self._stalled_until = time.monotonic() + seconds

    def stall_forever(self) -> None:
        """Stop answering until :meth:`resume`, :meth:`power_cycle` or :meth:`replug`."""
        with self._lock:
            self._stalled_until = math.inf

    def resume(self) -> None:
        """End a stall."""
        with self._lock:
            self._stalled_until = 0.0

    def unplug(self) -> None:
        """Pull the USB-serial adapter: the pty goes away and the port's path disappears.

        The host's open file then fails its reads (pyserial raises SerialException: "device reports
        readiness to read but returned no data", or EIO), like a vanished /dev/ttyUSB0.
        """
        plug = self._plug
        if plug is None:
            return
        plug.stop.set()
        if plug.thread is not None and plug.thread is not threading.current_thread():
            plug.thread.join()

    def replug(self) -> None:
        """Plug the adapter back in: a new pty behind the same :attr:`port` path.

        The module is powered from the adapter, so this is also a power cycle.
        """
        self.unplug()
        self.power_cycle()
        self._plug_in()

    def power_cycle(self) -> None:
        """Cut and restore power: RAM state is lost and the stored baud multiplier takes effect."""
        with self._lock:
            self._baud = self._stored_multiplier * BAUD_UNIT
            self._password_verified = self._password == 0
            self._image_buffer = None
            self._char_buffers = {1: None, 2: None}
            self._stalled_until = 0.0
            self.led = None
            self._rx_buffer.clear()
        log.info("power cycle: module now at %d baud", self._baud)

    # ----------------------------------------------------------------- transport

    def _plug_in(self) -> None:
        assert self._dir is not None
        master, slave = os.openpty()
        # The module side keeps the slave open as well: the host's termios (its line speed) is read
        # through it, and the master would see EIO whenever the host has the port closed.
        tty.setraw(slave)
        os.set_blocking(master, False)
        plug = _Plug(master=master, slave=slave, tty_path=os.ttyname(slave))
        link = Path(self.port)
        link.unlink(missing_ok=True)
        link.symlink_to(plug.tty_path)
        self._rx_buffer.clear()
        self._plug = plug
        plug.thread = threading.Thread(target=self._serve, args=(plug,), name="r30x-sim", daemon=True)
        plug.thread.start()
        log.info("plugged in: %s -> %s at %d baud", link, plug.tty_path, self._baud)

    def _unplugged(self, plug: _Plug) -> None:
        """Close the pty pair and remove the port's path (runs in the serving thread)."""
        os.close(plug.master)
        os.close(plug.slave)
        if self._dir is not None:
            Path(self.port).unlink(missing_ok=True)
        if self._plug is plug:
            self._plug = None
        log.info("unplugged: %s is gone", plug.tty_path)

    def _serve(self, plug: _Plug) -> None:
        try:
            while not plug.stop.is_set():
                ready, _, _ = select.select([plug.master], [], [], 0.02)
                if ready:
                    try:
                        data = os.read(plug.master, 4096)
                    except BlockingIOError:
                        continue
                    self._receive(plug, data)
                elif self._rx_buffer and time.monotonic() - self._rx_last > _STALE_INPUT_S:
                    traffic_log.debug("rx timeout, partial packet dropped: %s", self._rx_buffer.hex(" "))
                    self._rx_buffer.clear()
        except _Unplugged:
            pass
        except Exception:
            log.exception("the simulated module crashed")
            raise
        finally:
            self._unplugged(plug)

    def _host_speeds(self, plug: _Plug) -> tuple[int, int]:
        """(input, output) line speed the host configured on its end of the pty, in baud."""
        raw = fcntl.ioctl(plug.slave, _TCGETS2, bytes(_TERMIOS2_SIZE))
        ispeed, ospeed = struct.unpack_from("=II", raw, _TERMIOS2_SPEEDS)
        return ispeed, ospeed

    def _stalled(self) -> bool:
        return time.monotonic() < self._stalled_until

    def _receive(self, plug: _Plug, data: bytes) -> None:
        """Bytes from the host: model their time on the wire, then look for command packets."""
        now = time.monotonic()
        self.bytes_received += len(data)
        self._rx_line_free = max(now, self._rx_line_free) + len(data) * 10 / self._baud
        host_baud = self._host_speeds(plug)[1]
        if host_baud != self._baud:
            traffic_log.debug(
                "rx %d bytes at host %d baud, module %d baud: received as garbage", len(data), host_baud, self._baud
            )
            self._rx_buffer.clear()
            return
        if self._stalled():
            traffic_log.debug("rx while stalled, ignored: %s", data.hex(" "))
            return
        self._rx_buffer += data
        self._rx_last = now
        while (packet := self._next_packet()) is not None:
            # A UART hands over the last byte only once it has been on the wire.
            self._sleep_until(plug, self._rx_line_free)
            self._handle(plug, packet)

    def _next_packet(self) -> bytes | None:
        """Take the next whole packet out of the receive buffer, discarding junk before it."""
        buffer = self._rx_buffer
        while True:
            start = buffer.find(_START_CODE)
            if start < 0:
                keep = 1 if buffer[-1:] == _START_CODE[:1] else 0
                if len(buffer) > keep:
                    traffic_log.debug("rx junk: %s", buffer[: len(buffer) - keep].hex(" "))
                    del buffer[: len(buffer) - keep]
                return None
            if start:
                traffic_log.debug("rx junk: %s", buffer[:start].hex(" "))
                del buffer[:start]
            if len(buffer) < _HEADER_SIZE:
                return None
            length = int.from_bytes(buffer[7:9], "big")
            if not 2 <= length <= _MAX_PAYLOAD + 2:
                del buffer[:1]
                continue
            if len(buffer) < _HEADER_SIZE + length:
                return None
            packet = bytes(buffer[: _HEADER_SIZE + length])
            del buffer[: _HEADER_SIZE + length]
            return packet

    def _handle(self, plug: _Plug, packet: bytes) -> None:
        traffic_log.debug("rx %s", packet.hex(" "))
        address = int.from_bytes(packet[2:6], "big")
        if address != self._address:
            # A module ignores packets for another address: it stays silent.
            log.debug("packet for address 0x%08X ignored (module is 0x%08X)", address, self._address)
            return
        pid = packet[6]
        payload = packet[_HEADER_SIZE:-2]
        got = int.from_bytes(packet[-2:], "big")
        if got != sum(packet[6:-2]) & 0xFFFF:
            self._reply(plug, _RECEIVE_ERROR)
            return
        if pid != _PID_COMMAND or not payload:
            log.debug("packet with PID %02X ignored: no data transfer is in progress", pid)
            return
        instruction, params = payload[0], payload[1:]
        self.commands_seen.append(instruction)
        if not self._password_verified and instruction != 0x13:
            self._reply(plug, _VERIFY_PASSWORD_FIRST)
            return
        handler = self._COMMANDS.get(instruction)
        if handler is None:
            # No datasheet documents the answer to an unknown instruction; this model answers
            # "packet receive error", and so does a module without an LED to AuraLedConfig.
            self._reply(plug, _RECEIVE_ERROR)
            return
        handler(self, plug, params)

    # ----------------------------------------------------------------- output

    def _reply(self, plug: _Plug, code: int, extra: bytes = b"") -> None:
        self._send(plug, [_frame(self._address, _PID_ACK, bytes([code]) + extra)])

    def _send(self, plug: _Plug, packets: list[bytes], *, data_packets: bool = False) -> None:
        """Put ``packets`` on the line back to back, applying the scripted faults.

        With ``data_packets``, ``packets[0]`` is the acknowledgement and the rest are the upload's
        data packets (for faults that target the k-th data packet).
        """
        packets = list(packets)
        unplug_at: int | None = None
        with self._lock:
            noise = self._rng.randbytes(self._noise_bytes)
            self._noise_bytes = 0
            if self._corrupt_next:
                packets[0] = self._corrupted(packets[0])
                self._corrupt_next = False
            fault = self._data_packet_fault
            if data_packets and fault is not None and fault.index + 1 < len(packets):
                packets[fault.index + 1] = self._corrupted(packets[fault.index + 1])
                if fault.uploads is not None:
                    fault.uploads -= 1
                    if fault.uploads <= 0:
                        self._data_packet_fault = None
            if data_packets and self._unplug_after_data_packets is not None:
                unplug_at = len(noise) + sum(len(p) for p in packets[: self._unplug_after_data_packets + 1])
                self._unplug_after_data_packets = None
        if self._max_working_baud is not None and self._baud > self._max_working_baud:
            packets = [self._garbled(p) for p in packets]
        if traffic_log.isEnabledFor(logging.DEBUG):
            if noise:
                traffic_log.debug("tx noise %s", noise.hex(" "))
            for packet in packets:
                traffic_log.debug("tx %s", packet.hex(" "))
        self._transmit(plug, noise + b"".join(packets), unplug_at)

    def _corrupted(self, packet: bytes) -> bytes:
        """``packet`` with its checksum off by one."""
        checksum = (int.from_bytes(packet[-2:], "big") + 1) & 0xFFFF
        return packet[:-2] + checksum.to_bytes(2, "big")

    def _garbled(self, packet: bytes) -> bytes:
        """``packet`` as an unreliable line delivers it: one byte hit, maybe more."""
        garbled = bytearray(packet)
        for _ in range(1 + len(packet) // 64):
            garbled[self._rng.randrange(len(garbled))] ^= self._rng.randrange(1, 256)
        return bytes(garbled)

    def _transmit(self, plug: _Plug, data: bytes, unplug_at: int | None) -> None:
        """Write ``data`` to the host at the module's baud rate (on a monotonic-clock schedule).

        The host's line speed is checked for every slice: while it differs from the module's, the
        host's UART turns the module's bytes into other bytes at its own rate, so the host receives
        garbage for as long as the module sends (also when the host changes speed mid-reply).
        """
        module_baud = self._baud
        bytes_per_s = module_baud / 10
        end = len(data) if unplug_at is None else min(unplug_at, len(data))
        slice_bytes = max(1, int(bytes_per_s * _PACING_SLICE_S))
        start = time.monotonic()
        sent = 0
        while sent < end:
            if plug.stop.is_set():
                raise _Unplugged
            if self._stalled():
                time.sleep(0.01)
                start = time.monotonic() - sent / bytes_per_s  # resume the schedule where it stopped
                continue
            due = min(end, int((time.monotonic() - start) * bytes_per_s))
            if due > sent:
                chunk = data[sent:due]
                host_baud = self._host_speeds(plug)[0]
                if host_baud != module_baud:
                    traffic_log.debug(
                        "tx %d bytes at module %d baud, host %d baud: garbage", len(chunk), module_baud, host_baud
                    )
                    chunk = self._rng.randbytes(max(1, round(len(chunk) * host_baud / module_baud)))
                if not self._write(plug, chunk):
                    log.warning("host stopped reading: %d bytes of the reply lost", len(data) - sent)
                    return
                sent = due
            if sent < end:
                time.sleep(max(0.0, start + min(end, sent + slice_bytes) / bytes_per_s - time.monotonic()))
        if unplug_at is not None:
            raise _Unplugged

    def _write(self, plug: _Plug, chunk: bytes) -> bool:
        """Write all of ``chunk`` to the master; False if the host has not read for too long."""
        view = memoryview(chunk)
        blocked_since: float | None = None
        while view:
            if plug.stop.is_set():
                raise _Unplugged
            try:
                written = os.write(plug.master, view)
            except BlockingIOError:
                written = 0
            except OSError as error:
                if error.errno == errno.EIO:
                    raise _Unplugged from error
                raise
            self.bytes_sent += written
            view = view[written:]
            if view:
                blocked_since = blocked_since or time.monotonic()
                if time.monotonic() - blocked_since > _BLOCKED_WRITE_LIMIT_S:
                    return False
                select.select([], [plug.master], [], 0.05)
        return True

    def _sleep_until(self, plug: _Plug, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0 and plug.stop.wait(delay):
            raise _Unplugged

    # ----------------------------------------------------------------- commands

    def _gen_img(self, plug: _Plug, params: bytes) -> None:
        """GenImg (01): latch the finger on the glass into the image buffer, or 02 "no finger"."""
        finger = self._finger
        if finger is None:
            self._reply(plug, _NO_FINGER)
            return
        self._image_buffer = finger
        self._reply(plug, _OK)

    def _up_image(self, plug: _Plug, params: bytes) -> None:
        """UpImage (0A): ack, then the image's upper 4 bits, two pixels a byte, high nibble first."""
        image = self._image_buffer
        if image is None:
            self._reply(plug, _UPLOAD_IMAGE_FAILED)
            return
        packed = ((image[:, 0::2] >> 4) << 4) | (image[:, 1::2] >> 4)
        data = packed.astype(np.uint8).tobytes()
        size = _PACKET_SIZES[self._packet_size_code]
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        packets = [_frame(self._address, _PID_ACK, bytes([_OK]))]
        packets += [_frame(self._address, _PID_DATA, chunk) for chunk in chunks[:-1]]
        packets.append(_frame(self._address, _PID_END_OF_DATA, chunks[-1]))
        self._send(plug, packets, data_packets=True)

    def _img2tz(self, plug: _Plug, params: bytes) -> None:
        """Img2Tz (02, buffer id): features of the image buffer into character buffer 1 or 2."""
        if len(params) != 1 or params[0] not in (1, 2):
            self._reply(plug, _INVALID_REGISTER)
            return
        image = self._image_buffer
        if image is None:
            self._reply(plug, _NO_VALID_IMAGE)
            return
        quantised = image >> 4
        if float(quantised.std()) < 1.0:
            self._reply(plug, _TOO_FEW_FEATURES)  # blank glass: nothing to extract
            return
        if float(quantised.mean()) < 2.0:
            self._reply(plug, _IMAGE_TOO_MESSY)  # a smudge: almost all dark
            return
        self._char_buffers[params[0]] = _features(image)
        self._reply(plug, _OK)

    def _match(self, plug: _Plug, params: bytes) -> None:
        """Match (03): compare character buffers 1 and 2 -> score."""
        score = self._score(self._char_buffers[1], self._char_buffers[2])
        self._reply(plug, _OK if score is not None else _NO_MATCH, (score or 0).to_bytes(2, "big"))

    def _search(self, plug: _Plug, params: bytes) -> None:
        """Search (04, buffer id, start page u16, page count u16) -> page u16 + score u16, or 09."""
        if len(params) != 5 or params[0] not in (1, 2):
            self._reply(plug, _INVALID_REGISTER)
            return
        start, count = struct.unpack(">HH", params[1:])
        features = self._char_buffers[params[0]]
        best: tuple[int, int] | None = None
        for page in range(start, min(start + count, self._library_size)):
            score = self._score(features, self._library.get(page))
            if score is not None and (best is None or score > best[1]):
                best = (page, score)
        if best is None:
            self._reply(plug, _NOT_FOUND, bytes(4))
        else:
            self._reply(plug, _OK, struct.pack(">HH", *best))

    def _reg_model(self, plug: _Plug, params: bytes) -> None:
        """RegModel (05): merge character buffers 1 and 2 into a template (in both buffers)."""
        first, second = self._char_buffers[1], self._char_buffers[2]
        if first is None or second is None or self._score(first, second) is None:
            self._reply(plug, _MERGE_FAILED)
            return
        merged = _normalised(first + second)
        self._char_buffers = {1: merged, 2: merged}
        self._reply(plug, _OK)

    def _store(self, plug: _Plug, params: bytes) -> None:
        """Store (06, buffer id, page u16): write a character buffer into the library."""
        if len(params) != 3 or params[0] not in (1, 2):
            self._reply(plug, _INVALID_REGISTER)
            return
        page = int.from_bytes(params[1:], "big")
        if page >= self._library_size:
            self._reply(plug, _BAD_LOCATION)
            return
        features = self._char_buffers[params[0]]
        if features is None:
            self._reply(plug, _TEMPLATE_INVALID)
            return
        self._library[page] = features
        self._reply(plug, _OK)

    def _empty(self, plug: _Plug, params: bytes) -> None:
        """Empty (0D): delete every template."""
        self._library.clear()
        self._reply(plug, _OK)

    def _set_sys_para(self, plug: _Plug, params: bytes) -> None:
        """SetSysPara (0E, parameter, value): 4 baud multiplier, 5 security level, 6 packet size code."""
        if len(params) != 2:
            self._reply(plug, _RECEIVE_ERROR)
            return
        parameter, value = params
        if parameter == 4 and 1 <= value <= 12:
            self._stored_multiplier = value
            self._reply(plug, _OK)  # the acknowledgement still goes out at the old rate
            if self._baud_applies == "immediately":
                self._baud = value * BAUD_UNIT
            log.info("baud multiplier %d stored (%s); module runs at %d", value, self._baud_applies, self._baud)
        elif parameter == 5 and 1 <= value <= 5:
            self._security_level = value
            self._reply(plug, _OK)
        elif parameter == 6 and value in _PACKET_SIZES:
            self._packet_size_code = value
            self._reply(plug, _OK)
        else:
            self._reply(plug, _INVALID_REGISTER)

    def _read_sys_para(self, plug: _Plug, params: bytes) -> None:
        """ReadSysPara (0F): status, system id, library size, security level, address, packet size, N."""
        # Status register bits (ZFM-20 datasheet): 0 busy, 1 finger matched, 2 password verified,
        # 3 valid image in the image buffer.
        status = (int(self._password_verified) << 2) | (int(self._image_buffer is not None) << 3)
        extra = struct.pack(
            ">HHHHIHH",
            status,
            self._system_id,
            self._library_size,
            self._security_level,
            self._address,
            self._packet_size_code,
            self._stored_multiplier,
        )
        self._reply(plug, _OK, extra)

    def _set_pwd(self, plug: _Plug, params: bytes) -> None:
        """SetPwd (12, password u32)."""
        if len(params) != 4:
            self._reply(plug, _RECEIVE_ERROR)
            return
        self._password = int.from_bytes(params, "big")
        self._reply(plug, _OK)

    def _vfy_pwd(self, plug: _Plug, params: bytes) -> None:
        """VfyPwd (13, password u32): 00, or 13 "wrong password"."""
        if len(params) != 4:
            self._reply(plug, _RECEIVE_ERROR)
            return
        self._password_verified = int.from_bytes(params, "big") == self._password
        self._reply(plug, _OK if self._password_verified else _WRONG_PASSWORD)

    def _get_random_code(self, plug: _Plug, params: bytes) -> None:
        """GetRandomCode (14) -> u32."""
        self._reply(plug, _OK, self._rng.getrandbits(32).to_bytes(4, "big"))

    def _set_addr(self, plug: _Plug, params: bytes) -> None:
        """SetAddr (15, new address u32): acknowledged from the new address."""
        if len(params) != 4:
            self._reply(plug, _RECEIVE_ERROR)
            return
        self._address = int.from_bytes(params, "big")
        self._reply(plug, _OK)

    def _handshake(self, plug: _Plug, params: bytes) -> None:
        """Handshake (17), used by some libraries to check the module is there."""
        self._reply(plug, _OK)

    def _template_num(self, plug: _Plug, params: bytes) -> None:
        """TemplateNum (1D) -> number of stored templates u16."""
        self._reply(plug, _OK, len(self._library).to_bytes(2, "big"))

    def _aura_led_config(self, plug: _Plug, params: bytes) -> None:
        """AuraLedConfig (35, control, speed, colour, count) on R503-type modules."""
        if not self._has_led:
            self._reply(plug, _RECEIVE_ERROR)
            return
        if len(params) != 4:
            self._reply(plug, _RECEIVE_ERROR)
            return
        control, speed, colour, count = params
        self.led = (control, speed, colour, count)
        self._reply(plug, _OK)

    def _get_echo(self, plug: _Plug, params: bytes) -> None:
        """GetEcho (53) on the R503: answers 55 "module OK"."""
        self._reply(plug, _MODULE_OK)

    def _score(self, first: np.ndarray | None, second: np.ndarray | None) -> int | None:
        """Match score of two feature maps (0..1000), or None if they are not the same finger."""
        if first is None or second is None:
            return None
        correlation = float((first * second).sum())
        return round(correlation * 1000) if correlation >= _MATCH_THRESHOLD else None

    _COMMANDS = {
        0x01: _gen_img,
        0x02: _img2tz,
        0x03: _match,
        0x04: _search,
        0x05: _reg_model,
        0x06: _store,
        0x0A: _up_image,
        0x0D: _empty,
        0x0E: _set_sys_para,
        0x0F: _read_sys_para,
        0x12: _set_pwd,
        0x13: _vfy_pwd,
        0x14: _get_random_code,
        0x15: _set_addr,
        0x17: _handshake,
        0x1D: _template_num,
        0x35: _aura_led_config,
        0x53: _get_echo,
    }
