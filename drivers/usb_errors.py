"""The one mapping from pyusb's ``USBError`` to the typed device errors, shared by every USB driver.

libusb reports failures as errno values (libusb_error → errno in pyusb's libusb1 backend):
``ETIMEDOUT``/``USBTimeoutError`` no answer in time; ``ENODEV`` the device is gone; ``EPIPE`` an
endpoint stall — which some hosts also report for a device unplugged in the middle of a transfer,
so a stall is called a disconnect when the device no longer enumerates; ``EBUSY`` another driver or
program holds the interface; ``EACCES`` no OS permission (udev); ``EOVERFLOW`` the device sent more
than was asked for (libusb "babble").
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import usb.core

from drivers.errors import DeviceAccessDenied, DeviceBusy, DeviceDisconnected, DeviceError, DeviceTimeout, ProtocolError

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class UsbErrors:
    """How one USB device's failures are reported: its name in messages, its endpoints (halts are cleared
    after a stall), and what to tell the technician when it is gone, busy or forbidden."""

    device: usb.core.Device
    name: str
    timeout_ms: int
    endpoints: Sequence[int]
    gone_hint: str | None = None
    busy_hint: str | None = None
    access_hint: str | None = None

    def call(self, what: str, call: Callable[[], _T]) -> _T:
        """Run one pyusb call; its failure becomes the typed error naming ``what``."""
        try:
            return call()
        except usb.core.USBError as exc:
            self.fail(exc, what)

    def fail(self, exc: usb.core.USBError, what: str) -> NoReturn:
        """Raise the typed error for ``exc``, a failure of the call described by ``what``."""
        raise self.typed(exc, what) from exc

    def typed(self, exc: usb.core.USBError, what: str) -> DeviceError:
        """The typed error for ``exc`` (clears endpoint halts after a stall, so the next transfer can work)."""
        if isinstance(exc, usb.core.USBTimeoutError) or exc.errno == errno.ETIMEDOUT:
            return DeviceTimeout(f"{what}: no answer within {self.timeout_ms} ms", device=self.name)
        if exc.errno == errno.ENODEV or "No such device" in str(exc):
            return DeviceDisconnected(f"{what}: the device went away ({exc})", device=self.name, hint=self.gone_hint)
        if exc.errno == errno.EPIPE:
            if not self.still_attached():
                return DeviceDisconnected(f"{what}: the device went away (pipe error)", device=self.name,
                                          hint=self.gone_hint)
            self._clear_halts()
            return ProtocolError(f"{what}: the device stalled the endpoint ({exc})", device=self.name)
        if exc.errno == errno.EBUSY:
            return DeviceBusy(f"{what}: the device is held by another program or driver", device=self.name,
                              hint=self.busy_hint)
        if exc.errno == errno.EACCES:
            return DeviceAccessDenied(f"{what}: no permission to use the device", device=self.name,
                                      hint=self.access_hint)
        if exc.errno == errno.EOVERFLOW:
            return ProtocolError(f"{what}: the device sent more than expected", device=self.name)
        return DeviceError(f"{what}: USB error: {exc}", device=self.name)

    def still_attached(self) -> bool:
        """Whether the device still enumerates at its bus address."""
        dev = self.device
        try:
            found = usb.core.find(backend=dev.backend, custom_match=lambda d: (d.bus, d.address, d.idVendor,
                                  d.idProduct) == (dev.bus, dev.address, dev.idVendor, dev.idProduct))
        except usb.core.USBError:
            return False
        return found is not None

    def _clear_halts(self) -> None:
        for endpoint in self.endpoints:
            try:
                self.device.clear_halt(endpoint)
            except usb.core.USBError as exc:
                log.debug("%s: clearing halt on 0x%02x: %s", self.name, endpoint, exc)
