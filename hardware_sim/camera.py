"""Wire-level camera simulator: an MJPEG-over-HTTP stream on 127.0.0.1 with a scriptable scene.

Network cameras and many HDMI/USB capture boxes serve live video as ``multipart/x-mixed-replace``
(one JPEG per part, each part with its own ``Content-Type`` and ``Content-Length`` header; the
multipart framing is RFC 2046 section 5.1, the ``x-mixed-replace`` subtype is the server-push
convention browsers and FFmpeg's ``mpjpeg`` demuxer read).  The station's camera driver opens
:attr:`CameraSimulator.url` with OpenCV exactly as it would open an IP camera, so everything
between the socket and the decoded frame is the real code path.

The scene is a real face photograph, scikit-image's ``astronaut`` (NASA portrait of Eileen
Collins, public domain), cut out and composed onto a background, then moved, scaled, rotated,
darkened, over-exposed, blurred, partly hidden, doubled or removed (:class:`Scene`, :data:`SCENES`).
Faults a real stream shows are scripted too: a stall (connection open, no frames), a disconnect
(connections dropped, new ones refused until :meth:`CameraSimulator.plug`), corrupt JPEG parts.

This module does not import the station's drivers or face code: it is the other end of the wire,
written independently so that the two ends catch each other's mistakes.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import socket
import threading
import time
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Literal

import cv2
import numpy as np

log = logging.getLogger(__name__)

BOUNDARY = "mjpegframe"
STREAM_PATH = "/video.mjpg"

# Where the face is in skimage.data.astronaut() (512 x 512): dlib's 5-point landmarks put the eye
# centres at about (203.5, 101.5) and (246.5, 104.5), so the eye midpoint is (225, 103) and the
# inter-eye distance about 43 px.  The cut-out is the head (hair included) and the collar/shoulders.
_EYE_MID = (225.0, 103.0)
_EYE_DISTANCE = 43.0
_HEAD_ELLIPSE = ((226, 100), (66, 88))
_SHOULDERS = np.array([(150, 165), (300, 165), (360, 300), (372, 512), (60, 512), (95, 300)], np.int32)

Occlusion = Literal["none", "eyes", "mouth", "left_half"]
Background = Literal["plain", "cluttered"]


@dataclass(frozen=True)
class Scene:
    """What the simulated camera sees.  The defaults are a well-posed citizen in front of a plain
    light-grey background, framed so that an ISO/IEC 19794-5 token image (inter-eye distance a
    quarter of its width, 3:4) of 120 px between the eyes fits in a 1280 x 720 frame.

    Geometry is relative to the frame so that one scene looks alike at every resolution.
    """

    face: bool = True
    eye_x: float = 0.5
    """Eye midpoint, as a fraction of the frame width from the left."""
    eye_y: float = 0.45
    """Eye midpoint, as a fraction of the frame height from the top."""
    eye_distance: float = 0.165
    """Distance between the eye centres as a fraction of the frame height (0.165 x 720 = 119 px)."""
    roll_deg: float = 0.0
    """Rotation of the head in the image plane, counter-clockwise as seen in the image."""
    gain: float = 1.0
    """Multiplies every pixel (< 1 darkens, > 1 over-exposes and clips)."""
    side_light: float = 0.0
    """Light from one side (a window beside the citizen): across the face the brightness falls from
    full on the image's left to 1 - side_light on its right, where the face is in shadow.  (The
    photograph is already lit a little more from the image's left.)"""
    blur_sigma: float = 0.0
    """Gaussian blur (defocus) in pixels of a 720-line frame."""
    occlusion: Occlusion = "none"
    second_face: bool = False
    background: Background = "plain"
    noise: float = 2.0
    """Standard deviation of sensor noise, grey levels."""


SCENES: dict[str, Scene] = {
    "good": Scene(),
    "far": Scene(eye_distance=0.09),
    "close": Scene(eye_distance=0.26, eye_y=0.40),
    "off_centre": Scene(eye_x=0.30),
    "too_high": Scene(eye_y=0.22),
    "tilted": Scene(roll_deg=14.0),
    "dark": Scene(gain=0.25),
    "over_exposed": Scene(gain=1.6),
    "side_lit": Scene(side_light=0.5),
    "blurred": Scene(blur_sigma=4.0),
    "hidden_mouth": Scene(occlusion="mouth"),
    "hidden_eyes": Scene(occlusion="eyes"),
    "two_faces": Scene(second_face=True),
    "busy_background": Scene(background="cluttered"),
    "no_face": Scene(face=False),
}
"""The scripted scenes the tests and benches use, by name."""


def astronaut() -> np.ndarray:
    """scikit-image's astronaut photograph (512 x 512, BGR uint8), read from the file it ships.

    Read with OpenCV, not ``skimage.data.astronaut()``: that imports scikit-image's I/O stack
    (imageio, tifffile, SciPy), some 35 MiB resident in every process with a simulated camera, the
    kiosk on a simulated station among them.  The pixels are the same (the file is a lossless PNG).
    """
    spec = importlib.util.find_spec("skimage")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-image is not installed; its astronaut photograph is the simulated face")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png"
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise FileNotFoundError(f"{path} cannot be read; reinstall scikit-image")
    return pixels


@cache
def _cutout() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut photograph (BGR, float32) and a soft mask of her head and shoulders (0..1)."""
    photo = astronaut().astype(np.float32)
    mask = np.zeros(photo.shape[:2], np.uint8)
    cv2.ellipse(mask, _HEAD_ELLIPSE[0], _HEAD_ELLIPSE[1], 0, 0, 360, 255, -1)
    cv2.fillPoly(mask, [_SHOULDERS], 255)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 3.0)
    return photo, soft


def _background(kind: Background, width: int, height: int) -> np.ndarray:
    if kind == "plain":
        # Light grey with a gentle vertical falloff, like a lit backdrop (ICAO asks for a plain, light one).
        ramp = np.linspace(212, 196, height, dtype=np.float32)[:, None, None]
        return np.broadcast_to(ramp, (height, width, 3)).copy()
    rng = np.random.default_rng(7)
    image = np.full((height, width, 3), 120, np.float32)
    for _ in range(60):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(width // 30, width // 6)), int(rng.integers(height // 30, height // 4))
        cv2.rectangle(image, (x, y), (x + w, y + h), [float(c) for c in rng.integers(0, 256, 3)], -1)
    return image


def _paste_face(image: np.ndarray, eye_x: float, eye_y: float, eye_distance_px: float, roll_deg: float,
                occlusion: Occlusion) -> None:
    """Compose the astronaut so that her eye midpoint lands on (eye_x, eye_y) px, scaled and rolled."""
    photo, mask = _cutout()
    if occlusion != "none":
        photo = photo.copy()
        hidden = {"eyes": ((180, 88), (272, 118)), "mouth": ((195, 132), (258, 168)),
                  "left_half": ((140, 40), (226, 200))}[occlusion]
        cv2.rectangle(photo, hidden[0], hidden[1], (70, 60, 150), -1)  # a hand / a card in front of the face
    scale = eye_distance_px / _EYE_DISTANCE
    # getRotationMatrix2D's positive angles turn counter-clockwise as the image is displayed (OpenCV docs).
    matrix = cv2.getRotationMatrix2D(_EYE_MID, roll_deg, scale)
    matrix[0, 2] += eye_x - _EYE_MID[0]
    matrix[1, 2] += eye_y - _EYE_MID[1]
    height, width = image.shape[:2]
    warped = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_CUBIC)
    alpha = cv2.warpAffine(mask, matrix, (width, height), flags=cv2.INTER_LINEAR)[:, :, None]
    image *= 1.0 - alpha
    image += warped * alpha


def render(scene: Scene, width: int, height: int, *, seed: int = 0) -> np.ndarray:
    """The BGR uint8 frame the camera delivers for ``scene`` at ``width`` x ``height``."""
    image = _background(scene.background, width, height)
    if scene.face:
        if scene.second_face:
            _paste_face(image, 0.84 * width, 0.52 * height, 0.7 * scene.eye_distance * height, 0.0, "none")
        _paste_face(image, scene.eye_x * width, scene.eye_y * height, scene.eye_distance * height,
                    scene.roll_deg, scene.occlusion)
    if scene.side_light:
        reach = 1.2 * scene.eye_distance * height  # about half a face
        ramp = np.clip((np.arange(width, dtype=np.float32) - scene.eye_x * width) / reach, -1.0, 1.0)
        image *= (1.0 - scene.side_light * (1.0 + ramp) / 2)[None, :, None]
    image *= scene.gain
    if scene.blur_sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), scene.blur_sigma * height / 720)
    if scene.noise > 0:
        image += np.random.default_rng(seed).normal(0, scene.noise, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def corrupt_jpeg(jpeg: bytes) -> bytes:
    """A JPEG damaged the way a flaky link damages one: entropy-coded data overwritten, end cut off."""
    damaged = bytearray(jpeg[: len(jpeg) * 2 // 3])
    start = len(damaged) // 3
    damaged[start:start + 400] = b"\xff\xd9" * 200  # stray end-of-image markers inside the scan
    return bytes(damaged)


class CameraSimulator:
    """An MJPEG-over-HTTP camera on 127.0.0.1 serving :meth:`set_scene`'s scene at ``fps``.

    Use as a context manager, or :meth:`start` / :meth:`stop`.  Every connected client gets every
    frame at the stream's pace (a camera does not wait for slow readers: it is the client's job to
    keep up or drop frames); each frame is rendered once per scene change and JPEG-encoded once.
    """

    def __init__(self, width: int = 1280, height: int = 720, fps: float = 30.0, *, scene: Scene | str = "good",
                 quality: int = 85, port: int = 0) -> None:
        self.width, self.height, self.fps, self.quality = width, height, fps, quality
        self._requested_port = port
        self._lock = threading.Condition()
        self._scene = SCENES[scene] if isinstance(scene, str) else scene
        self._jpeg = b""
        self._frame_no = 0
        self._stalled = False
        self._unplugged = False
        self._corrupt_left = 0
        self._generation = 0
        """Bumped by :meth:`unplug`: streams of an older generation end at once."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.frames_sent = 0
        self.clients = 0

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> CameraSimulator:
        self._encode()
        simulator = self

        class Handler(_StreamHandler):
            sim = simulator

        self._server = ThreadingHTTPServer(("127.0.0.1", self._requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="camera-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.unplug()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> CameraSimulator:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the camera simulator is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Where the stream is, in the form an IP camera's manual gives it."""
        return f"http://127.0.0.1:{self.port}{STREAM_PATH}"

    # -- the scene -------------------------------------------------------------------------------

    @property
    def scene(self) -> Scene:
        return self._scene

    def set_scene(self, scene: Scene | str, **changes: object) -> None:
        """Show ``scene`` (a :class:`Scene` or a name in :data:`SCENES`), with fields overridden by ``changes``."""
        base = SCENES[scene] if isinstance(scene, str) else scene
        with self._lock:
            self._scene = dataclasses.replace(base, **changes) if changes else base  # type: ignore[arg-type]
        self._encode()

    def frame(self) -> np.ndarray:
        """The uncompressed frame of the current scene (what the camera's sensor saw)."""
        return render(self._scene, self.width, self.height)

    @property
    def resident_bytes(self) -> int:
        """The simulator's own memory: the photograph its scenes are composed from (with its mask)
        and the JPEG it streams.  For figures that tell the station from the simulators sharing
        its process."""
        photo, mask = _cutout()
        with self._lock:
            return photo.nbytes + mask.nbytes + len(self._jpeg)

    def _encode(self) -> None:
        ok, jpeg = cv2.imencode(".jpg", self.frame(), [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        with self._lock:
            self._jpeg = jpeg.tobytes()

    # -- faults ----------------------------------------------------------------------------------

    def stall(self) -> None:
        """Keep connections open but send nothing until :meth:`resume` (a hung encoder)."""
        with self._lock:
            self._stalled = True

    def resume(self) -> None:
        with self._lock:
            self._stalled = False
            self._lock.notify_all()

    def unplug(self) -> None:
        """Drop every connection and refuse new streams until :meth:`plug` (camera gone)."""
        with self._lock:
            self._unplugged = True
            self._generation += 1
            self._lock.notify_all()

    def plug(self) -> None:
        with self._lock:
            self._unplugged = False

    def corrupt(self, frames: int = 1) -> None:
        """Send the next ``frames`` frames as damaged JPEG data (framing intact, image data not)."""
        with self._lock:
            self._corrupt_left += frames

    # -- used by the handler ---------------------------------------------------------------------

    def _next_part(self, generation: int, deadline: float) -> bytes | None:
        """The next frame's JPEG, after waiting until ``deadline``; None when the stream must end."""
        with self._lock:
            while True:
                if self._unplugged or generation != self._generation:
                    return None
                remaining = deadline - time.monotonic()
                if not self._stalled and remaining <= 0:
                    break
                self._lock.wait(max(remaining, 0.0) if not self._stalled else 0.05)
            jpeg = self._jpeg
            if self._corrupt_left:
                self._corrupt_left -= 1
                jpeg = corrupt_jpeg(jpeg)
            self.frames_sent += 1
            return jpeg


class _StreamHandler(BaseHTTPRequestHandler):
    sim: CameraSimulator
    protocol_version = "HTTP/1.0"  # the stream ends when the connection closes, as IP cameras do
    server_version = "SimulatedCamera/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        sim = self.sim
        if self.path.split("?")[0] != STREAM_PATH:
            self.send_error(404, "no such stream")
            return
        with sim._lock:
            if sim._unplugged:
                generation = -1
            else:
                generation = sim._generation
        if generation < 0:
            # A camera that is gone does not answer at all: drop the connection without a response.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        period = 1.0 / sim.fps
        deadline = time.monotonic()
        sim.clients += 1
        try:
            while True:
                jpeg = sim._next_part(generation, deadline)
                if jpeg is None:
                    break
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n").encode()
                self.wfile.write(head + jpeg + b"\r\n")
                self.wfile.flush()
                # Keep the stream's own clock: a late frame does not push every later one back.
                deadline = max(deadline + period, time.monotonic() - period)
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            sim.clients -= 1
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        log.debug("camera-sim: " + format, *args)
