"""What is plugged in: USB devices by their ids or interface class, serial ports by a handshake.

Discovery only *recognises*; it never configures.  USB devices are recognised from their
descriptors alone.  Serial ports cannot say what is behind them, so the ones that may hold a
fingerprint module are asked with a harmless handshake (VfyPwd + ReadSysPara, short timeout).
Only USB-serial bridges and ports named by the caller are probed: on-board UARTs (``ttyS*``)
often drive other equipment, and writing bytes at it would be anything but harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import usb.backend
import usb.core
import usb.util
from serial.tools import list_ports

from drivers.device import DeviceInfo, DeviceKind
from drivers.fingerprint import nb1010, r30x

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UsbModel:
    """A USB device the station has a driver for, recognised by vendor and product id."""

    kind: DeviceKind
    driver: str
    vendor: str
    model: str


#: Supported models by (idVendor, idProduct).
USB_MODELS: dict[tuple[int, int], UsbModel] = {
    (nb1010.USB_VENDOR_ID, nb1010.USB_PRODUCT_ID): UsbModel(
        DeviceKind.FINGERPRINT, "nb1010", "NEXT Biometrics", "NB-1010-U"
    ),
}

#: Devices recognised by a USB interface class (USB-IF class codes): any CCID reader, any UVC camera.
USB_CLASSES: dict[int, tuple[DeviceKind, str, str]] = {
    0x0B: (DeviceKind.CARD_READER, "ccid", "CCID smart-card reader"),
    0x0E: (DeviceKind.CAMERA, "uvc", "USB video class camera"),
}


@dataclass(frozen=True)
class FoundDevice:
    """A recognised device: what it is, and the driver name a configuration would use for it."""

    info: DeviceInfo
    driver: str
    usb_device: usb.core.Device | None = field(default=None, compare=False, repr=False)


def discover(
    usb_backends: Iterable[usb.backend.IBackend | None] = (None,),
    serial_ports: Iterable[str] = (),
    *,
    probe_usb_serial: bool = True,
    probe_timeout: float = 0.3,
) -> list[FoundDevice]:
    """Everything recognised on the given USB backends and serial ports.

    ``None`` in ``usb_backends`` means the machine's own libusb.  ``serial_ports`` are probed in
    addition to the USB-serial bridges found by pyserial (when ``probe_usb_serial``).
    """
    found: list[FoundDevice] = []
    for backend in usb_backends:
        found.extend(discover_usb(backend))
    ports = list(serial_ports)
    if probe_usb_serial:
        ports += [port.device for port in list_ports.comports() if port.vid is not None]
    found.extend(discover_serial(dict.fromkeys(ports), probe_timeout=probe_timeout))
    return found


def discover_usb(backend: usb.backend.IBackend | None = None) -> list[FoundDevice]:
    """Recognised devices on one pyusb backend (``None``: this machine's libusb)."""
    if backend is None:
        from drivers.usb_backend import default_backend

        try:
            backend = default_backend()
        except Exception as error:  # no libusb at all: nothing on USB can be listed
            log.warning("USB devices cannot be listed: %s", error)
            return []
    found = []
    for device in usb.core.find(find_all=True, backend=backend):
        recognised = _recognise_usb(device)
        if recognised is not None:
            found.append(recognised)
    return found


def discover_serial(ports: Iterable[str], *, probe_timeout: float = 0.3) -> list[FoundDevice]:
    """Serial ports that answer the fingerprint module's handshake."""
    found = []
    for port in ports:
        info = r30x.probe(port, timeout=probe_timeout)
        log.debug("probe of %s: %s", port, info or "no fingerprint module")
        if info is not None:
            found.append(FoundDevice(info, "r30x"))
    return found


def _recognise_usb(device: usb.core.Device) -> FoundDevice | None:
    ids = (device.idVendor, device.idProduct)
    address = f"usb:{device.bus}:{device.address}"
    model = USB_MODELS.get(ids)
    if model is not None:
        info = DeviceInfo(
            model.kind,
            model.model,
            address,
            vendor=model.vendor,
            vendor_id=ids[0],
            product_id=ids[1],
            serial=_string(device, device.iSerialNumber),
            firmware=_bcd(device.bcdDevice),
        )
        return FoundDevice(info, model.driver, device)
    for interface_class in _interface_classes(device):
        if interface_class in USB_CLASSES:
            kind, driver, description = USB_CLASSES[interface_class]
            product = _string(device, device.iProduct) or description
            info = DeviceInfo(
                kind,
                product,
                address,
                vendor=_string(device, device.iManufacturer),
                vendor_id=ids[0],
                product_id=ids[1],
                serial=_string(device, device.iSerialNumber),
                firmware=_bcd(device.bcdDevice),
            )
            return FoundDevice(info, driver, device)
    return None


def _interface_classes(device: usb.core.Device) -> list[int]:
    classes = [device.bDeviceClass]
    try:
        for configuration in device:
            classes += [interface.bInterfaceClass for interface in configuration]
    except (usb.core.USBError, NotImplementedError) as error:
        log.debug("cannot read the configuration of %04x:%04x: %s", device.idVendor, device.idProduct, error)
    return classes


def _string(device: usb.core.Device, index: int) -> str:
    """A string descriptor, or "" when it is absent or unreadable (no permission, device busy)."""
    if not index:
        return ""
    try:
        return usb.util.get_string(device, index) or ""
    except (usb.core.USBError, ValueError, NotImplementedError) as error:
        log.debug("string descriptor %d unreadable: %s", index, error)
        return ""


def _bcd(value: int) -> str:
    """bcdDevice as the usual dotted version (0x0100 -> "1.00")."""
    return f"{value >> 8:x}.{value & 0xFF:02x}"
