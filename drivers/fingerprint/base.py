"""The one interface every fingerprint scanner driver implements."""

from __future__ import annotations

import abc
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from drivers.device import Device, DeviceInfo
from drivers.errors import Cancelled, DeviceTimeout


@dataclass(frozen=True)
class FingerImage:
    """One raw image as the scanner delivered it: 2-D uint8 ``pixels`` (dark ridges on light), its
    resolution, the device that took it and when (UTC)."""

    pixels: np.ndarray
    ppi: int
    device: DeviceInfo
    captured_at: datetime


class FingerprintScanner(Device):
    """A fingerprint scanner.  Use as a context manager: ``with Scanner(...) as scanner: ...``.

    Subclasses implement :meth:`open`, :meth:`close`, :meth:`info`, :meth:`finger_present`,
    :meth:`capture` and :meth:`self_test`; waiting for a finger is common to all of them.
    """

    #: How often :meth:`wait_for_finger` asks the sensor (libfprint's NB-1010 driver uses 50 ms).
    poll_interval_s: float = 0.05

    @abc.abstractmethod
    def finger_present(self) -> bool:
        """Ask the sensor once whether a finger lies on it."""

    @abc.abstractmethod
    def capture(self) -> FingerImage:
        """Take one image of the finger on the sensor and transfer it."""

    def wait_for_finger(self, timeout: float, cancel: threading.Event | None = None) -> None:
        """Return once a finger is on the sensor.

        Raises :class:`Cancelled` within one poll interval of ``cancel`` being set (from any
        thread), and :class:`DeviceTimeout` after ``timeout`` seconds without a finger.
        """
        cancel = cancel or threading.Event()
        deadline = time.monotonic() + timeout
        while True:
            if cancel.is_set():
                raise Cancelled("waiting for a finger was cancelled")
            if self.finger_present():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"no finger placed within {timeout:g} s", device=self.info().model)
            cancel.wait(min(self.poll_interval_s, remaining))
