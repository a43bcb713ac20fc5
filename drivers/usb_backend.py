"""The pyusb backend used when the caller does not hand one in.

pyusb needs a libusb shared library.  The ``libusb-package`` wheel ships one, so a station
works without a system package; when neither exists the error says what to install instead of
pyusb's bare ``NoBackendError``.
"""

from __future__ import annotations

import usb.backend
import usb.backend.libusb1

from drivers.errors import DeviceNotFound


def default_backend() -> usb.backend.IBackend:
    """libusb 1.0 from the ``libusb-package`` wheel, else the system's libusb."""
    try:
        import libusb_package

        backend = libusb_package.get_libusb1_backend()
    except ImportError:
        backend = None
    backend = backend or usb.backend.libusb1.get_backend()
    if backend is None:
        raise DeviceNotFound(
            "no libusb library is available, so no USB device can be reached",
            hint="Install the libusb-package wheel (pip) or Debian's libusb-1.0-0 package.",
        )
    return backend
