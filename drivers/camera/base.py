"""The one interface every camera driver implements, and the frame it delivers."""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from drivers.device import Device, DeviceInfo


@dataclass(frozen=True)
class Frame:
    """One decoded video frame: BGR uint8 ``pixels`` (height x width x 3), as OpenCV and Kivy's
    ``colorfmt='bgr'`` textures take them.

    ``sequence`` counts the frames the camera delivered since it was opened (1, 2, ...); a gap
    between two frames a consumer took is the number of frames it did not look at.
    ``monotonic`` is ``time.monotonic()`` when the frame arrived, for measuring latency and rates;
    ``captured_at`` is the same instant in UTC for the record.
    """

    pixels: np.ndarray
    sequence: int
    monotonic: float
    captured_at: datetime
    device: DeviceInfo

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


@dataclass(frozen=True)
class CameraStats:
    """What the grabber has seen since the camera was opened."""

    frames: int
    """Frames received and decoded."""
    fps: float
    """Frames per second received over the last second or so (0 when none)."""
    delivered: int
    """Frames handed to a consumer by :meth:`Camera.latest`."""
    dropped: int
    """Frames replaced by a newer one before any consumer took them (the grabber never queues)."""
    corrupt: int
    """Frames whose compressed data was damaged; never delivered."""
    reconnects: int
    """Times the stream was lost and opened again."""
    connected: bool
    last_problem: str = ""


class Camera(Device):
    """A camera with a grabber thread.  Use as a context manager: ``with camera: camera.latest()``.

    Only the newest frame is kept: a consumer that is slower than the camera sees fewer frames,
    never older ones (a preview that lags behind the citizen's movements is worse than a slower one).
    """

    @abc.abstractmethod
    def latest(self, newer_than: int = 0, timeout: float = 1.0, cancel: threading.Event | None = None) -> Frame:
        """The newest frame whose sequence number is above ``newer_than``, waiting up to ``timeout`` s.

        Raises :class:`~drivers.errors.Cancelled` when ``cancel`` is set, and a
        :class:`~drivers.errors.DeviceError` saying why when no such frame arrives in time.
        """

    @abc.abstractmethod
    def stats(self) -> CameraStats:
        """Counters of the grabber (frames, measured fps, dropped, corrupt, reconnects)."""

    @abc.abstractmethod
    def controls(self) -> dict[str, float]:
        """The controls this camera exposes (exposure, white balance, focus...) and their values."""

    @abc.abstractmethod
    def set_control(self, name: str, value: float) -> bool:
        """Set one control; False when the camera does not expose it or refused the value."""
