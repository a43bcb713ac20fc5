"""Camera driver on OpenCV's ``VideoCapture``: USB (V4L2) cameras by index or device path, network
cameras and capture boxes by URL (FFmpeg), with a grabber thread that keeps only the newest frame.

Why a grabber thread: ``VideoCapture.read`` blocks until the next frame, and a camera that is not
read keeps frames in its driver's buffers (V4L2 queues several; an HTTP stream piles up in the
socket), so a consumer that falls behind would see the citizen as they were seconds ago.  The
grabber reads continuously and replaces its one frame; consumers take the newest
(:meth:`OpenCVCamera.latest`).  OpenCV releases the GIL while it reads and decodes, so the grabber
does not stall the interpreter.

Negotiation (V4L2 only; a stream's format is fixed by its sender): the FOURCC is set before the
size because UVC cameras offer their large sizes at full rate only as MJPG (uncompressed YUYV
1280 x 720 over USB 2.0 fits about 10 fps), then the size and the rate; what the camera agreed to
is read back and reported, never assumed.

MJPEG streams (FFmpeg) are read as raw JPEG packets (``CAP_PROP_FORMAT = -1``) and decoded here:
FFmpeg's decoder conceals damaged JPEG data silently (it fills in from the previous frame), and a
portrait must never be taken from a half-concealed frame.  Each packet is checked for its
start-of-image and end-of-image markers and for an end-of-image marker inside the scan (ITU-T T.81
annex B: inside entropy-coded data every 0xFF byte is followed by 0x00 or a restart marker, so a
real EOI there means the data was cut or overwritten); damaged frames are counted and skipped.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from drivers.camera.base import Camera, CameraStats, Frame
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

log = logging.getLogger(__name__)

#: Control names of the configuration -> OpenCV properties (V4L2 maps them to the UVC controls
#: "Auto Exposure", "Exposure Time, Absolute", "White Balance Temperature", "Focus, Absolute", ...).
CONTROLS: dict[str, int] = {
    "auto_exposure": cv2.CAP_PROP_AUTO_EXPOSURE,
    "exposure": cv2.CAP_PROP_EXPOSURE,
    "auto_white_balance": cv2.CAP_PROP_AUTO_WB,
    "white_balance": cv2.CAP_PROP_WB_TEMPERATURE,
    "autofocus": cv2.CAP_PROP_AUTOFOCUS,
    "focus": cv2.CAP_PROP_FOCUS,
    "gain": cv2.CAP_PROP_GAIN,
    "brightness": cv2.CAP_PROP_BRIGHTNESS,
}

_FPS_WINDOW = 31
"""Arrival times kept for the measured frame rate (about one second at 30 fps)."""


def fourcc_text(code: float) -> str:
    """OpenCV's FOURCC property as its four characters ("MJPG"); "" when there is none."""
    value = int(code)
    text = "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4))
    return text if value > 0 and text.isprintable() else ""


def jpeg_problem(data: np.ndarray) -> str:
    """What is wrong with the JPEG in ``data`` (1-D uint8), or "" when its structure is whole."""
    if data.size < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return "no JPEG start-of-image marker"
    end = data.size
    while end > 2 and data[end - 1] == 0x00:  # some senders pad a part with zero bytes after EOI
        end -= 1
    if data[end - 2] != 0xFF or data[end - 1] != 0xD9:
        return "JPEG data cut short (no end-of-image marker)"
    markers = np.flatnonzero(data[: end - 1] == 0xFF)
    following = data[markers + 1]
    scans = markers[following == 0xDA]
    if scans.size == 0:
        return "JPEG without image data (no start-of-scan marker)"
    ends = markers[following == 0xD9]
    if ends[ends > scans[0]][0] != end - 2:
        return "JPEG data overwritten (end-of-image marker inside the image data)"
    return ""


@dataclass
class _Counters:
    frames: int = 0
    delivered: int = 0
    dropped: int = 0
    corrupt: int = 0
    reconnects: int = 0
    arrivals: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=_FPS_WINDOW))


class OpenCVCamera(Camera):
    """A camera opened with ``cv2.VideoCapture``.

    ``source``: a V4L2 index (``0``), a device path (``/dev/video0``, or a stable
    ``/dev/v4l/by-id/...`` link) or a URL (``http://camera/video.mjpg``, ``rtsp://...``).
    ``width``/``height``/``fps``/``fourcc`` are requested from V4L2 cameras; ``controls`` (names of
    :data:`CONTROLS`) are applied after opening when the camera exposes them.  With ``reconnect``,
    a lost camera is opened again every ``reconnect_interval`` seconds until it is back or closed.
    """

    def __init__(
        self,
        source: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        fourcc: str = "MJPG",
        controls: dict[str, float] | None = None,
        open_timeout: float = 5.0,
        read_timeout: float = 2.0,
        reconnect: bool = True,
        reconnect_interval: float = 0.5,
    ) -> None:
        if isinstance(source, str) and source.isdigit():
            source = int(source)
        self.source = source
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        unknown = sorted(set(controls or {}) - set(CONTROLS))
        if unknown:
            raise ValueError(f"unknown camera control(s) {', '.join(unknown)}; known: {', '.join(CONTROLS)}")
        self.requested_controls = dict(controls or {})
        self.open_timeout, self.read_timeout = open_timeout, read_timeout
        self.reconnect, self.reconnect_interval = reconnect, reconnect_interval
        self.negotiated: dict[str, str] = {}
        """What the camera agreed to (size, rate, format, controls), for diagnostics."""
        self._capture: cv2.VideoCapture | None = None
        self._raw_jpeg = False
        self._capture_lock = threading.Lock()
        self._frame_ready = threading.Condition()
        self._frame: Frame | None = None
        self._frame_delivered = False
        self._counters = _Counters()
        self._connected = False
        self._problem: DeviceError | None = None
        self._stop = threading.Event()
        self._grabber: threading.Thread | None = None
        self._info = DeviceInfo(DeviceKind.CAMERA, "camera", self.address)

    # -- where the camera is ---------------------------------------------------------------------

    @property
    def is_url(self) -> bool:
        return isinstance(self.source, str) and "://" in self.source

    @property
    def device_path(self) -> str | None:
        """The V4L2 device node, for index and path sources."""
        if isinstance(self.source, int):
            return f"/dev/video{self.source}"
        return None if self.is_url else self.source

    @property
    def address(self) -> str:
        """Where a technician finds the camera; a URL without its password."""
        if self.is_url:
            return re.sub(r"//[^/@]*@", "//***@", str(self.source))
        return self.device_path or str(self.source)

    # -- opening ---------------------------------------------------------------------------------

    def open(self) -> None:
        if self._grabber is not None:
            return
        self._capture = self._open_capture()
        self._describe()
        with self._frame_ready:
            self._counters, self._frame, self._problem = _Counters(), None, None
        self._stop.clear()
        self._connected = True
        self._grabber = threading.Thread(target=self._grab_loop, name=f"camera-grabber {self.address}", daemon=True)
        self._grabber.start()
        try:
            self.latest(timeout=self.open_timeout)
        except DeviceError:
            self.close()
            raise
        with self._frame_ready:
            if self._frame_delivered:  # the first frame was only a sign of life; a consumer may still take it
                self._frame_delivered = False
                self._counters.delivered -= 1

    def _open_capture(self) -> cv2.VideoCapture:
        """A ``VideoCapture`` delivering frames, with the format negotiated; typed errors otherwise."""
        if self.is_url:
            timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout * 1000),
                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout * 1000)]
            capture = cv2.VideoCapture(str(self.source), cv2.CAP_FFMPEG, timeouts)
            if not capture.isOpened():
                raise DeviceNotFound(
                    "the camera stream cannot be opened", device=self.address,
                    hint="Check that the camera (or capture box) is powered and on the network, and the URL.")
            # MJPEG: take the JPEG packets and decode them here (see the module docstring).
            self._raw_jpeg = fourcc_text(capture.get(cv2.CAP_PROP_FOURCC)) == "MJPG" and bool(
                capture.set(cv2.CAP_PROP_FORMAT, -1))
            return capture
        path = self.device_path or ""
        if not os.path.exists(path):
            raise DeviceNotFound(f"{path} does not exist", device=self.address)
        if not os.access(path, os.R_OK | os.W_OK):
            raise DeviceAccessDenied(
                f"no permission to open {path}", device=self.address,
                hint="Add the station's user to the 'video' group (or a udev rule for the camera).")
        capture = cv2.VideoCapture(path, cv2.CAP_V4L2)
        if not capture.isOpened():
            raise DeviceBusy(f"{path} cannot be opened", device=self.address,
                             hint="Another program may hold the camera (`fuser " + path + "`), or it is not a "
                                  "capture device; check with `v4l2-ctl --list-devices`.")
        self._negotiate(capture)
        return capture

    def _negotiate(self, capture: cv2.VideoCapture) -> None:
        """Ask for the format, size and rate (in that order, see the module docstring)."""
        if self.fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*self.fourcc))
        if self.width and self.height:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps:
            capture.set(cv2.CAP_PROP_FPS, self.fps)
        for name, value in self.requested_controls.items():
            accepted = bool(capture.set(CONTROLS[name], value))
            self.negotiated[name] = f"{capture.get(CONTROLS[name]):g}" if accepted else "not exposed"
            if not accepted:
                log.warning("camera %s does not expose the control %s", self.address, name)

    def _describe(self) -> None:
        """Fill :meth:`info` and :attr:`negotiated` in from what the camera reports."""
        capture = self._capture
        assert capture is not None
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.negotiated["size"] = f"{width}x{height}"
        if not self.is_url:  # a stream's rate is the sender's (FFmpeg reports a default); stats() measures it
            self.negotiated["fps"] = f"{capture.get(cv2.CAP_PROP_FPS):g}"
        self.negotiated["format"] = fourcc_text(capture.get(cv2.CAP_PROP_FOURCC)) or "?"
        self.negotiated["backend"] = capture.getBackendName()
        if (self.width and self.height) and (width, height) != (self.width, self.height):
            log.warning("camera %s delivers %dx%d, not the %dx%d asked for", self.address, width, height,
                        self.width, self.height)
        if self.is_url:
            self._info = DeviceInfo(DeviceKind.CAMERA, f"{self.negotiated['format']} stream", self.address,
                                    firmware=self.negotiated["backend"])
        else:
            self._info = _v4l2_info(self.device_path or "", self.address)

    # -- the grabber -----------------------------------------------------------------------------

    def _grab_loop(self) -> None:
        while not self._stop.is_set():
            try:
                pixels = self._read()
            except DeviceError as error:
                if self._stop.is_set():
                    return
                self._lost(error)
                if not self.reconnect or not self._reopen():
                    return
                continue
            if pixels is not None:
                self._publish(pixels)

    def _read(self) -> np.ndarray | None:
        """One frame from the capture: decoded pixels, or None for a damaged frame (counted)."""
        with self._capture_lock:
            capture = self._capture
            if capture is None:
                raise DeviceDisconnected("the camera is closed", device=self.address)
            ok, data = capture.read()
        if not ok or data is None:
            raise DeviceDisconnected("the camera stopped delivering frames", device=self.address)
        if not self._raw_jpeg:
            return data
        packet = data.reshape(-1)
        problem = jpeg_problem(packet)
        pixels = cv2.imdecode(packet, cv2.IMREAD_COLOR) if not problem else None
        if pixels is None:
            self._damaged(problem or "JPEG data that does not decode")
        return pixels

    def _damaged(self, problem: str) -> None:
        with self._frame_ready:
            self._counters.corrupt += 1
            self._problem = ProtocolError(f"damaged frame: {problem}", device=self.address)
        log.warning("camera %s: damaged frame skipped (%s)", self.address, problem)

    def _publish(self, pixels: np.ndarray) -> None:
        now = time.monotonic()
        with self._frame_ready:
            counters = self._counters
            if self._frame is not None and not self._frame_delivered:
                counters.dropped += 1
            counters.frames += 1
            counters.arrivals.append(now)
            self._frame = Frame(pixels, counters.frames, now, datetime.now(UTC), self._info)
            self._frame_delivered = False
            self._problem = None
            self._frame_ready.notify_all()

    def _lost(self, error: DeviceError) -> None:
        log.warning("camera %s lost: %s", self.address, error)
        with self._frame_ready:
            self._connected = False
            self._problem = error
            self._frame_ready.notify_all()
        with self._capture_lock:
            if self._capture is not None:
                self._capture.release()
                self._capture = None

    def _reopen(self) -> bool:
        """Open the camera again until it answers (True) or the camera is closed (False)."""
        while not self._stop.wait(self.reconnect_interval):
            try:
                capture = self._open_capture()
            except DeviceError as error:
                log.debug("camera %s not back yet: %s", self.address, error)
                continue
            with self._capture_lock:
                if self._stop.is_set():
                    capture.release()
                    return False
                self._capture = capture
            with self._frame_ready:
                self._connected = True
                self._counters.reconnects += 1
            log.info("camera %s reconnected", self.address)
            return True
        return False

    # -- consumers -------------------------------------------------------------------------------

    def latest(self, newer_than: int = 0, timeout: float = 1.0, cancel: threading.Event | None = None) -> Frame:
        deadline = time.monotonic() + timeout
        with self._frame_ready:
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("waiting for a camera frame was cancelled")
                frame = self._frame
                if frame is not None and frame.sequence > newer_than:
                    if not self._frame_delivered:
                        self._frame_delivered = True
                        self._counters.delivered += 1
                    return frame
                if self._grabber is None:
                    raise DeviceDisconnected("the camera is not open", device=self.address)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._no_frame_error(timeout)
                self._frame_ready.wait(min(remaining, 0.05) if cancel is not None else remaining)

    def _no_frame_error(self, timeout: float) -> DeviceError:
        if self._problem is not None:
            return type(self._problem)(f"no new frame in {timeout:g} s; last problem: {self._problem.detail}",
                                       device=self.address)
        return DeviceTimeout(f"no new frame in {timeout:g} s", device=self.address)

    def stats(self) -> CameraStats:
        with self._frame_ready:
            counters = self._counters
            arrivals = list(counters.arrivals)
            fps = 0.0
            if len(arrivals) >= 2 and time.monotonic() - arrivals[-1] < 1.0:
                fps = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
            return CameraStats(counters.frames, fps, counters.delivered, counters.dropped, counters.corrupt,
                               counters.reconnects, self._connected,
                               self._problem.detail if self._problem else "")

    def controls(self) -> dict[str, float]:
        if self.is_url:
            return {}  # a stream carries pictures only; its sender's settings are not reachable this way
        with self._capture_lock:
            if self._capture is None:
                return {}
            values = {name: float(self._capture.get(prop)) for name, prop in CONTROLS.items()}
        return {name: value for name, value in values.items() if value != -1}  # V4L2 answers -1 when absent

    def set_control(self, name: str, value: float) -> bool:
        if name not in CONTROLS:
            raise ValueError(f"unknown camera control {name!r}; known: {', '.join(CONTROLS)}")
        if self.is_url:
            return False
        with self._capture_lock:
            return self._capture is not None and bool(self._capture.set(CONTROLS[name], value))

    # -- closing, identity, self-test ------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        grabber, self._grabber = self._grabber, None
        if grabber is not None and grabber is not threading.current_thread():
            grabber.join(timeout=max(self.open_timeout, self.read_timeout) + self.reconnect_interval + 1.0)
        with self._capture_lock:
            if self._capture is not None:
                self._capture.release()
                self._capture = None
        with self._frame_ready:
            self._connected = False
            self._frame_ready.notify_all()

    def info(self) -> DeviceInfo:
        return self._info

    def self_test(self, duration: float = 1.0) -> SelfTestResult:
        """Receive frames for ``duration`` seconds: they must keep coming and show a picture."""
        checks: dict[str, str] = {}
        opened_here = self._grabber is None
        try:
            if opened_here:
                self.open()
            checks["format"] = ", ".join(f"{key} {value}" for key, value in self.negotiated.items())
            first = self.latest(timeout=self.read_timeout)
            time.sleep(duration)
            last = self.latest(newer_than=first.sequence, timeout=self.read_timeout)
            elapsed = last.monotonic - first.monotonic
            rate = (last.sequence - first.sequence) / elapsed if elapsed > 0 else 0.0
            checks["frames"] = f"{last.sequence - first.sequence} in {elapsed:.2f} s ({rate:.1f} fps)"
            grey = cv2.cvtColor(last.pixels, cv2.COLOR_BGR2GRAY)
            mean, spread = float(grey.mean()), float(grey.std())
            checks["picture"] = f"{last.width}x{last.height}, mean {mean:.0f}, contrast {spread:.0f}"
            if spread < 3.0:
                return SelfTestResult(False, checks, "the picture is uniform: lens covered, no light, or no signal")
        except DeviceError as error:
            return SelfTestResult(False, checks, str(error))
        finally:
            if opened_here:
                self.close()
        return SelfTestResult(True, checks)


def _v4l2_info(path: str, address: str) -> DeviceInfo:
    """Name and USB ids of a V4L2 device from sysfs (``/sys/class/video4linux/videoN``)."""
    node = Path("/sys/class/video4linux") / Path(os.path.realpath(path)).name
    name = _read_text(node / "name") or "V4L2 camera"
    usb = (node / "device").resolve().parent  # the USB device above the video interface
    vendor_id, product_id = _read_text(usb / "idVendor"), _read_text(usb / "idProduct")
    return DeviceInfo(
        DeviceKind.CAMERA, name, address, vendor=_read_text(usb / "manufacturer"),
        vendor_id=int(vendor_id, 16) if vendor_id else None, product_id=int(product_id, 16) if product_id else None,
        serial=_read_text(usb / "serial"), firmware=_read_text(usb / "bcdDevice"),
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
