"""A pure-Python pyusb backend whose USB devices are Python objects: the wire for USB simulators.

Why a backend and not a mock: drivers take a ``usb.core.Device`` found through *any* pyusb backend
(ARCHITECTURE.md, rule 1).  With :class:`VirtualBackend` passed to ``usb.core.find(...,
backend=...)``, unmodified pyusb code enumerates, reads descriptors and strings, sets the
configuration, claims interfaces and makes bulk, interrupt and control transfers against a
:class:`VirtualDevice`, and meets the same failures libusb reports on real hardware: the same
exception classes, errno values and messages (``usb.backend.libusb1``'s tables).

What is modelled, and how:

* **Descriptors** are raw bytes (device descriptor followed by each full configuration), parsed
  here, so a simulator can carry the real descriptors of the device it imitates.  The helpers
  :func:`device_descriptor`, :func:`configuration_descriptor`, :func:`interface_descriptor` and
  :func:`endpoint_descriptor` build such bytes for devices without a recording.  Descriptors that
  follow an interface or endpoint descriptor without being one (class-specific ones such as CCID's
  functional descriptor) become that descriptor's ``extra_descriptors``, as libusb does.
* **Standard control requests** (GET_DESCRIPTOR incl. strings in UTF-16LE, GET/SET_CONFIGURATION,
  GET/SET_INTERFACE, GET_STATUS, CLEAR_FEATURE(ENDPOINT_HALT)) are answered here; class and vendor
  requests go to :meth:`VirtualDevice.handle_control`.
* **Bulk and interrupt transfers**: OUT data goes to :meth:`VirtualDevice.handle_out`; IN transfers
  take data the device queued with :meth:`VirtualDevice.queue_in` or produces on demand in
  :meth:`VirtualDevice.produce_in`, waiting up to the host's timeout.  As on the wire, a transfer
  into a buffer that is a multiple of ``wMaxPacketSize`` leaves the rest of a longer device message
  for the next read, and a longer message into any other buffer size is an overflow (EOVERFLOW).
  A device may refuse a transfer by raising :class:`EndpointStall`; the endpoint then stays halted
  (EPIPE) until the host clears the halt.
* **Hot-plug**: :meth:`VirtualBackend.attach` gives the device a bus address (a new one on every
  attach, as the Linux hub driver does) and resets it; :meth:`VirtualBackend.detach` removes it.
  Handles opened before a detach stay dead after a re-attach, and every transfer on them -
  including one already waiting - fails with ENODEV like libusb's LIBUSB_ERROR_NO_DEVICE.
* **Host-side state**: configuration, alternate settings, interface claims (a second handle
  claiming a claimed interface gets EBUSY), kernel drivers bound to interfaces (claiming such an
  interface gets EBUSY until it is detached) and permission denial at open (EACCES).

Thread safety: each device has one re-entrant lock guarding its state and the host-side state of
its connection; IN transfers wait on a condition of that lock, so a test thread can inject faults
or unplug the device while a driver thread waits in a transfer.  The backend's own lock only
guards its list of attached devices and is never held while taking a device lock.

Isochronous transfers are not modelled (pyusb's default NotImplementedError).  Prior art whose
ideas were learnt from (no code taken): pyftdi's ``tests/backend`` virtual USB backend.
"""

from __future__ import annotations

import array
import errno
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import usb.backend
import usb.core
import usb.util

# Descriptor types (USB 2.0 table 9-5).
DT_DEVICE = 0x01
DT_CONFIGURATION = 0x02
DT_STRING = 0x03
DT_INTERFACE = 0x04
DT_ENDPOINT = 0x05

# Standard requests (USB 2.0 table 9-4).
GET_STATUS = 0x00
CLEAR_FEATURE = 0x01
GET_DESCRIPTOR = 0x06
GET_CONFIGURATION = 0x08
SET_CONFIGURATION = 0x09
GET_INTERFACE = 0x0A
SET_INTERFACE = 0x0B
ENDPOINT_HALT = 0x00

LANGID_EN_US = 0x0409

# libusb error codes, so that a virtual failure carries the same backend_error_code as a real one.
_LIBUSB_CODES = {
    errno.EIO: -1,
    errno.EINVAL: -2,
    errno.EACCES: -3,
    errno.ENODEV: -4,
    errno.ENOENT: -5,
    errno.EBUSY: -6,
    errno.ETIMEDOUT: -7,
    errno.EOVERFLOW: -8,
    errno.EPIPE: -9,
}
# The messages libusb gives (usb.backend.libusb1._str_error_map).
_LIBUSB_MESSAGES = {
    errno.EIO: "Input/output error",
    errno.EINVAL: "Invalid parameter",
    errno.EACCES: "Access denied (insufficient permissions)",
    errno.ENODEV: "No such device (it may have been disconnected)",
    errno.ENOENT: "Entity not found",
    errno.EBUSY: "Resource busy",
    errno.ETIMEDOUT: "Operation timed out",
    errno.EOVERFLOW: "Overflow",
    errno.EPIPE: "Pipe error",
}


def usb_error(code: int, detail: str = "") -> usb.core.USBError:
    """The exception libusb's pyusb backend raises for ``errno`` ``code`` (timeouts as
    :class:`usb.core.USBTimeoutError`).  ``detail`` is appended for whoever reads the traceback."""
    message = _LIBUSB_MESSAGES.get(code, "Unknown error")
    if detail:
        message = f"{message} ({detail})"
    cls = usb.core.USBTimeoutError if code == errno.ETIMEDOUT else usb.core.USBError
    return cls(message, _LIBUSB_CODES.get(code, -99), code)


class EndpointStall(Exception):
    """Raised by a device handler to STALL the transfer: the host sees EPIPE, and a bulk or
    interrupt endpoint stays halted until the host clears the halt."""


# --------------------------------------------------------------------------- descriptors


@dataclass(frozen=True)
class EndpointDescriptor:
    """An endpoint descriptor with the fields pyusb's ``Endpoint`` copies."""

    bLength: int
    bDescriptorType: int
    bEndpointAddress: int
    bmAttributes: int
    wMaxPacketSize: int
    bInterval: int
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: list[int] = field(default_factory=list)

    @property
    def transfer_type(self) -> int:
        """``usb.util.ENDPOINT_TYPE_*`` of this endpoint."""
        return usb.util.endpoint_type(self.bmAttributes)


@dataclass(frozen=True)
class InterfaceDescriptor:
    """One alternate setting of an interface, with its endpoints."""

    bLength: int
    bDescriptorType: int
    bInterfaceNumber: int
    bAlternateSetting: int
    bNumEndpoints: int
    bInterfaceClass: int
    bInterfaceSubClass: int
    bInterfaceProtocol: int
    iInterface: int
    endpoints: tuple[EndpointDescriptor, ...] = ()
    extra_descriptors: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ConfigurationDescriptor:
    """A configuration: ``interfaces[i]`` lists the alternate settings of the i-th interface (in
    the order the descriptors give them), which is the "logical index" pyusb passes backends."""

    bLength: int
    bDescriptorType: int
    wTotalLength: int
    bNumInterfaces: int
    bConfigurationValue: int
    iConfiguration: int
    bmAttributes: int
    bMaxPower: int
    interfaces: tuple[tuple[InterfaceDescriptor, ...], ...]
    raw: bytes
    extra_descriptors: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class DeviceDescriptor:
    """The device descriptor plus the bus position fields pyusb's ``Device`` reads from it."""

    bLength: int
    bDescriptorType: int
    bcdUSB: int
    bDeviceClass: int
    bDeviceSubClass: int
    bDeviceProtocol: int
    bMaxPacketSize0: int
    idVendor: int
    idProduct: int
    bcdDevice: int
    iManufacturer: int
    iProduct: int
    iSerialNumber: int
    bNumConfigurations: int
    raw: bytes
    bus: int | None = None
    address: int | None = None
    port_number: int | None = None
    port_numbers: tuple[int, ...] | None = None
    speed: int | None = None


@dataclass(frozen=True)
class DescriptorSet:
    """Everything a device answers to GET_DESCRIPTOR for its device and configurations."""

    device: DeviceDescriptor
    configurations: tuple[ConfigurationDescriptor, ...]

    def configuration(self, value: int) -> ConfigurationDescriptor | None:
        """The configuration whose ``bConfigurationValue`` is ``value``, if any."""
        return next((c for c in self.configurations if c.bConfigurationValue == value), None)


def _u16(raw: bytes, offset: int) -> int:
    return int.from_bytes(raw[offset : offset + 2], "little")


def _walk(raw: bytes, offset: int, what: str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, descriptor)`` for the chain of descriptors in ``raw`` from ``offset``."""
    while offset < len(raw):
        length = raw[offset]
        if length < 2 or offset + length > len(raw):
            raise ValueError(f"{what}: descriptor at byte {offset} has bLength {length}, "
                             f"{len(raw) - offset} bytes left")
        yield offset, raw[offset : offset + length]
        offset += length


def _parse_endpoint(d: bytes) -> EndpointDescriptor:
    if len(d) < 7:
        raise ValueError(f"endpoint descriptor of {len(d)} bytes, expected at least 7")
    return EndpointDescriptor(
        bLength=d[0], bDescriptorType=d[1], bEndpointAddress=d[2], bmAttributes=d[3],
        wMaxPacketSize=_u16(d, 4), bInterval=d[6],
        bRefresh=d[7] if len(d) > 7 else 0, bSynchAddress=d[8] if len(d) > 8 else 0,
    )


def _parse_interface(d: bytes) -> InterfaceDescriptor:
    if len(d) < 9:
        raise ValueError(f"interface descriptor of {len(d)} bytes, expected 9")
    return InterfaceDescriptor(
        bLength=d[0], bDescriptorType=d[1], bInterfaceNumber=d[2], bAlternateSetting=d[3],
        bNumEndpoints=d[4], bInterfaceClass=d[5], bInterfaceSubClass=d[6], bInterfaceProtocol=d[7],
        iInterface=d[8],
    )


def _parse_configuration(block: bytes) -> ConfigurationDescriptor:
    """Parse one full configuration (header, interfaces, endpoints, extra descriptors)."""
    if len(block) < 9 or block[1] != DT_CONFIGURATION:
        raise ValueError(f"expected a configuration descriptor, got {block[:9].hex()}")
    config_extra: list[int] = []
    # Each alternate setting as [descriptor, endpoints, extra bytes]; extras attach to the last
    # endpoint if one follows the interface, else to the interface, else to the configuration.
    settings: list[tuple[InterfaceDescriptor, list[EndpointDescriptor], list[int]]] = []
    endpoint_extras: list[list[int]] = []
    for offset, d in _walk(block, block[0], "configuration"):
        if d[1] == DT_INTERFACE:
            settings.append((_parse_interface(d), [], []))
            endpoint_extras = []
        elif d[1] == DT_ENDPOINT:
            if not settings:
                raise ValueError(f"endpoint descriptor at byte {offset} before any interface")
            settings[-1][1].append(_parse_endpoint(d))
            endpoint_extras.append([])
        elif endpoint_extras:
            endpoint_extras[-1].extend(d)
            settings[-1][1][-1] = replace(settings[-1][1][-1], extra_descriptors=endpoint_extras[-1])
        elif settings:
            settings[-1][2].extend(d)
        else:
            config_extra.extend(d)
    grouped: dict[int, list[InterfaceDescriptor]] = {}
    for desc, endpoints, extra in settings:
        if desc.bNumEndpoints != len(endpoints):
            raise ValueError(f"interface {desc.bInterfaceNumber} alt {desc.bAlternateSetting}: "
                             f"bNumEndpoints {desc.bNumEndpoints} but {len(endpoints)} endpoint descriptors")
        full = replace(desc, endpoints=tuple(endpoints), extra_descriptors=extra)
        grouped.setdefault(desc.bInterfaceNumber, []).append(full)
    if block[4] != len(grouped):
        raise ValueError(f"configuration {block[5]}: bNumInterfaces {block[4]} but "
                         f"{len(grouped)} interfaces described")
    return ConfigurationDescriptor(
        bLength=block[0], bDescriptorType=block[1], wTotalLength=_u16(block, 2), bNumInterfaces=block[4],
        bConfigurationValue=block[5], iConfiguration=block[6], bmAttributes=block[7], bMaxPower=block[8],
        interfaces=tuple(tuple(alts) for alts in grouped.values()), raw=bytes(block),
        extra_descriptors=config_extra,
    )


def parse_descriptors(raw: bytes) -> DescriptorSet:
    """Parse a device descriptor followed by all its full configurations - the layout of Linux's
    sysfs ``descriptors`` file and of umockdev's ``N:`` line.  Raises ValueError on bad lengths."""
    raw = bytes(raw)
    if len(raw) < 18 or raw[0] != 18 or raw[1] != DT_DEVICE:
        raise ValueError(f"expected an 18-byte device descriptor, got {raw[:18].hex()}")
    d = raw[:18]
    device = DeviceDescriptor(
        bLength=d[0], bDescriptorType=d[1], bcdUSB=_u16(d, 2), bDeviceClass=d[4], bDeviceSubClass=d[5],
        bDeviceProtocol=d[6], bMaxPacketSize0=d[7], idVendor=_u16(d, 8), idProduct=_u16(d, 10),
        bcdDevice=_u16(d, 12), iManufacturer=d[14], iProduct=d[15], iSerialNumber=d[16],
        bNumConfigurations=d[17], raw=d,
    )
    configurations = []
    offset = 18
    for index in range(device.bNumConfigurations):
        if offset + 4 > len(raw):
            raise ValueError(f"configuration {index}: descriptor missing at byte {offset}")
        total = _u16(raw, offset + 2)
        if offset + total > len(raw):
            raise ValueError(f"configuration {index}: wTotalLength {total} but {len(raw) - offset} bytes left")
        configurations.append(_parse_configuration(raw[offset : offset + total]))
        offset += total
    if offset != len(raw):
        raise ValueError(f"{len(raw) - offset} bytes after the last configuration")
    return DescriptorSet(device, tuple(configurations))


def device_descriptor(
    *,
    idVendor: int,
    idProduct: int,
    bcdDevice: int = 0x0100,
    bcdUSB: int = 0x0200,
    bDeviceClass: int = 0,
    bDeviceSubClass: int = 0,
    bDeviceProtocol: int = 0,
    bMaxPacketSize0: int = 64,
    iManufacturer: int = 0,
    iProduct: int = 0,
    iSerialNumber: int = 0,
    bNumConfigurations: int = 1,
) -> bytes:
    """The 18 bytes of a device descriptor."""
    return (bytes([18, DT_DEVICE]) + bcdUSB.to_bytes(2, "little")
            + bytes([bDeviceClass, bDeviceSubClass, bDeviceProtocol, bMaxPacketSize0])
            + idVendor.to_bytes(2, "little") + idProduct.to_bytes(2, "little") + bcdDevice.to_bytes(2, "little")
            + bytes([iManufacturer, iProduct, iSerialNumber, bNumConfigurations]))


def endpoint_descriptor(
    bEndpointAddress: int, bmAttributes: int, wMaxPacketSize: int, bInterval: int = 0, *, extra: bytes = b""
) -> bytes:
    """A 7-byte endpoint descriptor, followed by ``extra`` (class-specific endpoint descriptors)."""
    return (bytes([7, DT_ENDPOINT, bEndpointAddress, bmAttributes]) + wMaxPacketSize.to_bytes(2, "little")
            + bytes([bInterval]) + extra)


def interface_descriptor(
    bInterfaceNumber: int,
    *endpoints: bytes,
    bAlternateSetting: int = 0,
    bInterfaceClass: int = 0xFF,
    bInterfaceSubClass: int = 0,
    bInterfaceProtocol: int = 0,
    iInterface: int = 0,
    extra: bytes = b"",
) -> bytes:
    """An interface descriptor, its class-specific ``extra`` descriptors, then its endpoints (each
    from :func:`endpoint_descriptor`; bNumEndpoints is counted from them)."""
    return (bytes([9, DT_INTERFACE, bInterfaceNumber, bAlternateSetting, len(endpoints), bInterfaceClass,
                   bInterfaceSubClass, bInterfaceProtocol, iInterface]) + extra + b"".join(endpoints))


def configuration_descriptor(
    *interfaces: bytes,
    bConfigurationValue: int = 1,
    iConfiguration: int = 0,
    bmAttributes: int = 0x80,
    bMaxPower: int = 50,
    extra: bytes = b"",
) -> bytes:
    """A full configuration: header (wTotalLength and bNumInterfaces computed), ``extra`` (e.g. an
    interface association descriptor), then the ``interfaces`` from :func:`interface_descriptor`."""
    body = extra + b"".join(interfaces)
    numbers = {d[2] for _, d in _walk(body, 0, "configuration body") if d[1] == DT_INTERFACE}
    total = 9 + len(body)
    return (bytes([9, DT_CONFIGURATION]) + total.to_bytes(2, "little")
            + bytes([len(numbers), bConfigurationValue, iConfiguration, bmAttributes, bMaxPower]) + body)


def string_descriptor(text: str) -> bytes:
    """A string descriptor: bLength, bDescriptorType 3, then the text in UTF-16LE."""
    encoded = text.encode("utf-16-le")
    if len(encoded) > 253:
        raise ValueError(f"string of {len(text)} characters does not fit a string descriptor")
    return bytes([2 + len(encoded), DT_STRING]) + encoded


# --------------------------------------------------------------------------- the device side


@dataclass(frozen=True)
class ControlSetup:
    """The SETUP packet of a control transfer."""

    bmRequestType: int
    bRequest: int
    wValue: int
    wIndex: int
    wLength: int

    @property
    def direction_in(self) -> bool:
        return bool(self.bmRequestType & 0x80)

    @property
    def request_type(self) -> int:
        """``usb.util.CTRL_TYPE_STANDARD`` / ``CTRL_TYPE_CLASS`` / ``CTRL_TYPE_VENDOR``."""
        return self.bmRequestType & (3 << 5)

    @property
    def recipient(self) -> int:
        """``usb.util.CTRL_RECIPIENT_DEVICE`` / ``_INTERFACE`` / ``_ENDPOINT`` / ``_OTHER``."""
        return self.bmRequestType & 0x1F


class _Connection:
    """One attachment of a device to a virtual bus, with the host-side state that lives as long as
    it: address, configuration, alternate settings, claims, halted endpoints, kernel drivers."""

    def __init__(self, bus: int, address: int, port_numbers: tuple[int, ...], configuration: int) -> None:
        self.bus = bus
        self.address = address
        self.port_numbers = port_numbers
        self.alive = True
        self.configuration = configuration
        self.altsettings: dict[int, int] = {}
        self.claims: dict[int, _Handle] = {}
        self.halted: set[int] = set()


class _Handle:
    """What ``open_device`` returns: a connection as one host program sees it."""

    def __init__(self, device: VirtualDevice, connection: _Connection) -> None:
        self.device = device
        self.connection = connection
        self.open = True


class VirtualDevice:
    """A USB device made of Python: descriptors plus handlers for its transfers.

    Subclass it and override :meth:`handle_out`, :meth:`produce_in` (or feed :meth:`queue_in`),
    :meth:`handle_control` and :meth:`on_reset`.  Handlers run with :attr:`lock` held, so state
    they share with fault-injection methods called from other threads is consistent; a handler
    may call :meth:`queue_in`, :meth:`wake_host` and the backend's attach/detach.
    """

    def __init__(
        self,
        descriptors: bytes,
        *,
        strings: Mapping[int, str] | None = None,
        langids: Sequence[int] = (LANGID_EN_US,),
        speed: int = usb.util.SPEED_FULL,
        kernel_driver_interfaces: Sequence[int] = (),
        access_denied: bool = False,
    ) -> None:
        """``strings`` maps string descriptor indices to text; ``kernel_driver_interfaces`` are
        interfaces a kernel driver is bound to on attach; ``access_denied`` makes opening fail
        with EACCES, as for a device node without udev permissions."""
        self.descriptors = parse_descriptors(descriptors)
        self.strings = dict(strings or {})
        self.langids = tuple(langids)
        self.speed = speed
        self._bound_on_attach = frozenset(kernel_driver_interfaces)
        self.kernel_driver_interfaces: set[int] = set()
        self.access_denied = access_denied
        self.lock = threading.RLock()
        self._changed = threading.Condition(self.lock)
        self._in_queues: dict[int, deque[bytes]] = {}
        self._connection: _Connection | None = None
        self.backend: VirtualBackend | None = None
        """The backend the device was last attached to."""

    # ---- for simulators

    @property
    def connected(self) -> bool:
        """Whether the device is attached to a backend now."""
        with self.lock:
            return self._connection is not None

    def handle_out(self, endpoint: int, data: bytes) -> None:
        """The host sent ``data`` to OUT ``endpoint`` (bulk or interrupt).  Default: STALL."""
        raise EndpointStall(f"endpoint 0x{endpoint:02x} takes no data")

    def produce_in(self, endpoint: int) -> bytes | None:
        """The host waits for data on IN ``endpoint`` and nothing is queued: return the device's
        next message, or None to make the host wait (until :meth:`queue_in`/:meth:`wake_host`
        or its timeout).  Called again on each wake-up.  Default: nothing."""
        return None

    def handle_control(self, setup: ControlSetup, data: bytes) -> bytes | None:
        """A class or vendor control request (``data`` is the OUT data stage).  Return the IN
        data stage (truncated to wLength), or None for OUT requests.  Default: STALL."""
        raise EndpointStall(f"request 0x{setup.bRequest:02x} not supported")

    def on_reset(self) -> None:
        """The device was attached (powered) or reset by the host: drop transient state.  The base
        class has already flushed queued IN data."""

    def queue_in(self, endpoint: int, data: bytes) -> None:
        """Queue one device message for IN ``endpoint``, waking a host that waits for it."""
        with self.lock:
            self._in_queues.setdefault(endpoint, deque()).append(bytes(data))
            self._changed.notify_all()

    def wake_host(self) -> None:
        """Make waiting IN transfers ask :meth:`produce_in` again (e.g. when a stall ends)."""
        with self.lock:
            self._changed.notify_all()

    def read_in(self, endpoint: int, max_length: int, timeout_s: float | None) -> bytes:
        """One IN transfer into a buffer of ``max_length`` bytes: wait up to ``timeout_s``
        (None = forever) for queued or produced data.  Raises ``USBTimeoutError``, or ``USBError``
        ENODEV when the device is detached meanwhile, EOVERFLOW when a message does not fit.
        Override only to replace the queueing model (a replay does)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self.lock:
            connection = self._connection
            while True:
                if connection is None or not connection.alive:
                    raise usb_error(errno.ENODEV)
                queue = self._in_queues.setdefault(endpoint, deque())
                message = queue.popleft() if queue else self.produce_in(endpoint)
                if not connection.alive:  # produce_in may have unplugged the device
                    raise usb_error(errno.ENODEV)
                if message is not None:
                    return self._fit(endpoint, bytes(message), max_length)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise usb_error(errno.ETIMEDOUT)
                self._changed.wait(remaining)

    # ---- used by the backend

    def _fit(self, endpoint: int, message: bytes, max_length: int) -> bytes:
        """Deliver ``message`` into a ``max_length`` buffer the way the bus does: a buffer of whole
        packets ends the transfer when full and the rest waits for the next one; a buffer that
        ends inside a packet the device sends in full is an overflow (babble)."""
        if len(message) <= max_length:
            return message
        if max_length % self._max_packet(endpoint) == 0:
            self._in_queues[endpoint].appendleft(message[max_length:])
            return message[:max_length]
        raise usb_error(errno.EOVERFLOW, f"{len(message)}-byte message into a {max_length}-byte buffer "
                                         f"on endpoint 0x{endpoint:02x}")

    def _max_packet(self, endpoint: int) -> int:
        for config in self.descriptors.configurations:
            for alts in config.interfaces:
                for alt in alts:
                    for ep in alt.endpoints:
                        if ep.bEndpointAddress == endpoint:
                            return ep.wMaxPacketSize or 1
        return self.descriptors.device.bMaxPacketSize0

    def _plugged(self, backend: VirtualBackend, connection: _Connection) -> None:
        with self.lock:
            self.backend = backend
            self._connection = connection
            self.kernel_driver_interfaces = set(self._bound_on_attach)
            self._reset_state()

    def _unplugged(self) -> None:
        with self.lock:
            if self._connection is not None:
                self._connection.alive = False
            self._connection = None
            self._changed.notify_all()

    def _reset_state(self) -> None:
        self._in_queues.clear()
        self.on_reset()
        self._changed.notify_all()

    def _standard_request(self, connection: _Connection, setup: ControlSetup, data: bytes) -> bytes | None:
        """Answer a standard request, or STALL like a device that does not support it."""
        request, value = setup.bRequest, setup.wValue
        if request == GET_DESCRIPTOR and setup.direction_in:
            kind, index = value >> 8, value & 0xFF
            if kind == DT_DEVICE:
                return self.descriptors.device.raw
            if kind == DT_CONFIGURATION and index < len(self.descriptors.configurations):
                return self.descriptors.configurations[index].raw
            if kind == DT_STRING and index == 0 and self.langids:
                return bytes([2 + 2 * len(self.langids), DT_STRING]) + b"".join(
                    langid.to_bytes(2, "little") for langid in self.langids)
            if kind == DT_STRING and index in self.strings and setup.wIndex in self.langids:
                return string_descriptor(self.strings[index])
            raise EndpointStall(f"no descriptor type {kind} index {index} (language 0x{setup.wIndex:04x})")
        if request == GET_CONFIGURATION and setup.direction_in:
            return bytes([connection.configuration])
        if request == SET_CONFIGURATION and not setup.direction_in:
            _set_configuration(self, connection, value)
            return None
        if request == GET_INTERFACE and setup.direction_in:
            return bytes([connection.altsettings.get(setup.wIndex & 0xFF, 0)])
        if request == SET_INTERFACE and not setup.direction_in:
            _set_altsetting(self, connection, setup.wIndex & 0xFF, value)
            return None
        if request == GET_STATUS and setup.direction_in:
            self_powered = setup.recipient == usb.util.CTRL_RECIPIENT_DEVICE and self._self_powered(connection)
            halted = setup.recipient == usb.util.CTRL_RECIPIENT_ENDPOINT and (setup.wIndex & 0xFF) in connection.halted
            return bytes([1 if self_powered or halted else 0, 0])
        if (request == CLEAR_FEATURE and setup.recipient == usb.util.CTRL_RECIPIENT_ENDPOINT
                and value == ENDPOINT_HALT):
            connection.halted.discard(setup.wIndex & 0xFF)
            return None
        raise EndpointStall(f"standard request 0x{request:02x} not supported")

    def _self_powered(self, connection: _Connection) -> bool:
        config = self.descriptors.configuration(connection.configuration)
        return bool(config and config.bmAttributes & 0x40)


def _active_setting(device: VirtualDevice, connection: _Connection, interface: int) -> InterfaceDescriptor | None:
    config = device.descriptors.configuration(connection.configuration)
    if config is None:
        return None
    wanted = connection.altsettings.get(interface, 0)
    for alts in config.interfaces:
        for alt in alts:
            if alt.bInterfaceNumber == interface and alt.bAlternateSetting == wanted:
                return alt
    return None


def _set_configuration(device: VirtualDevice, connection: _Connection, value: int) -> None:
    if value != 0 and device.descriptors.configuration(value) is None:
        raise usb_error(errno.ENOENT, f"no configuration {value}")
    if connection.claims:
        raise usb_error(errno.EBUSY, f"interfaces {sorted(connection.claims)} are claimed")
    connection.configuration = value
    connection.altsettings.clear()
    connection.halted.clear()


def _set_altsetting(device: VirtualDevice, connection: _Connection, interface: int, alt: int) -> None:
    config = device.descriptors.configuration(connection.configuration)
    settings = [] if config is None else [a for alts in config.interfaces for a in alts
                                          if a.bInterfaceNumber == interface and a.bAlternateSetting == alt]
    if not settings:
        raise usb_error(errno.ENOENT, f"interface {interface} has no alternate setting {alt}")
    connection.altsettings[interface] = alt
    for ep in settings[0].endpoints:
        connection.halted.discard(ep.bEndpointAddress)


# --------------------------------------------------------------------------- the backend


class VirtualBackend(usb.backend.IBackend):
    """A pyusb backend for :class:`VirtualDevice` objects; attach and detach them at any time."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._devices: dict[VirtualDevice, tuple[int, int]] = {}  # device -> (bus, address)
        self._next_address: dict[int, int] = {}

    # ---- hot-plug

    def attach(
        self,
        device: VirtualDevice,
        *,
        bus: int = 1,
        address: int | None = None,
        port_numbers: Sequence[int] = (1,),
        configuration: int | None = None,
    ) -> None:
        """Plug ``device`` in: it gets ``address`` (else the bus's next free one), is reset, and is
        put in ``configuration`` - by default its first one, as Linux does on enumeration; 0 leaves
        it unconfigured."""
        with self._lock:
            # The device's lock is never taken while the backend lock is held: a device handler
            # may detach its device while holding its own lock.
            if device in self._devices or device._connection is not None:
                raise ValueError("device is already attached")
            used = {a for b, a in self._devices.values() if b == bus}
            if address is None:
                address = self._next_address.get(bus, 2)
                while address in used:
                    address = address % 127 + 1
            elif address in used:
                raise ValueError(f"address {address} on bus {bus} is in use")
            self._next_address[bus] = address % 127 + 1
            self._devices[device] = (bus, address)
        if configuration is None:
            configuration = device.descriptors.configurations[0].bConfigurationValue
        device._plugged(self, _Connection(bus, address, tuple(port_numbers), configuration))

    def detach(self, device: VirtualDevice) -> None:
        """Unplug ``device``: it disappears from enumeration and every handle to it goes dead."""
        with self._lock:
            if self._devices.pop(device, None) is None:
                return
        device._unplugged()

    @property
    def devices(self) -> tuple[VirtualDevice, ...]:
        """The devices attached now."""
        with self._lock:
            return tuple(self._devices)

    # ---- enumeration and descriptors

    def enumerate_devices(self) -> Iterator[VirtualDevice]:
        return iter([d for d in self.devices if d._connection is not None])

    def get_parent(self, dev: VirtualDevice) -> None:
        return None

    def get_device_descriptor(self, dev: VirtualDevice) -> DeviceDescriptor:
        with dev.lock:
            connection = dev._connection
        if connection is None:
            return dev.descriptors.device
        return replace(dev.descriptors.device, bus=connection.bus, address=connection.address,
                       port_number=connection.port_numbers[-1] if connection.port_numbers else None,
                       port_numbers=connection.port_numbers or None, speed=dev.speed)

    def get_configuration_descriptor(self, dev: VirtualDevice, config: int) -> ConfigurationDescriptor:
        if not 0 <= config < len(dev.descriptors.configurations):
            raise IndexError(f"Invalid configuration index {config}")
        return dev.descriptors.configurations[config]

    def get_interface_descriptor(self, dev: VirtualDevice, intf: int, alt: int, config: int) -> InterfaceDescriptor:
        interfaces = self.get_configuration_descriptor(dev, config).interfaces
        if not 0 <= intf < len(interfaces):
            raise IndexError(f"Invalid interface index {intf}")
        if not 0 <= alt < len(interfaces[intf]):
            raise IndexError(f"Invalid alternate setting index {alt}")
        return interfaces[intf][alt]

    def get_endpoint_descriptor(self, dev: VirtualDevice, ep: int, intf: int, alt: int,
                                config: int) -> EndpointDescriptor:
        endpoints = self.get_interface_descriptor(dev, intf, alt, config).endpoints
        if not 0 <= ep < len(endpoints):
            raise IndexError(f"Invalid endpoint index {ep}")
        return endpoints[ep]

    # ---- handles and host-side state

    def open_device(self, dev: VirtualDevice) -> _Handle:
        with dev.lock:
            if dev._connection is None:
                raise usb_error(errno.ENODEV)
            if dev.access_denied:
                raise usb_error(errno.EACCES)
            return _Handle(dev, dev._connection)

    def close_device(self, dev_handle: _Handle) -> None:
        with dev_handle.device.lock:
            dev_handle.open = False
            claims = dev_handle.connection.claims
            for interface in [i for i, h in claims.items() if h is dev_handle]:
                del claims[interface]

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        with dev_handle.device.lock:
            connection = self._live(dev_handle)
            if any(h is not dev_handle for h in connection.claims.values()):
                raise usb_error(errno.EBUSY, "another handle has claimed an interface")
            _set_configuration(dev_handle.device, connection, config_value)

    def get_configuration(self, dev_handle: _Handle) -> int:
        with dev_handle.device.lock:
            return self._live(dev_handle).configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        with dev_handle.device.lock:
            connection = self._live(dev_handle)
            if connection.claims.get(intf) is not dev_handle:
                raise usb_error(errno.ENOENT, f"interface {intf} not claimed")
            _set_altsetting(dev_handle.device, connection, intf, altsetting)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        device = dev_handle.device
        with device.lock:
            connection = self._live(dev_handle)
            if _active_setting(device, connection, intf) is None:
                raise usb_error(errno.ENOENT, f"no interface {intf} in configuration {connection.configuration}")
            if intf in device.kernel_driver_interfaces:
                raise usb_error(errno.EBUSY, f"a kernel driver is bound to interface {intf}")
            holder = connection.claims.get(intf)
            if holder is not None and holder is not dev_handle:
                raise usb_error(errno.EBUSY, f"interface {intf} is claimed by another handle")
            connection.claims[intf] = dev_handle

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        with dev_handle.device.lock:
            connection = self._live(dev_handle)
            if connection.claims.get(intf) is not dev_handle:
                raise usb_error(errno.ENOENT, f"interface {intf} not claimed")
            del connection.claims[intf]
            connection.altsettings.pop(intf, None)

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        with dev_handle.device.lock:
            self._live(dev_handle)
            return intf in dev_handle.device.kernel_driver_interfaces

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        with dev_handle.device.lock:
            self._live(dev_handle)
            if intf not in dev_handle.device.kernel_driver_interfaces:
                raise usb_error(errno.ENOENT, f"no kernel driver on interface {intf}")
            dev_handle.device.kernel_driver_interfaces.discard(intf)

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        with dev_handle.device.lock:
            connection = self._live(dev_handle)
            if intf in connection.claims:
                raise usb_error(errno.EBUSY, f"interface {intf} is claimed")
            dev_handle.device.kernel_driver_interfaces.add(intf)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        with dev_handle.device.lock:
            self._live(dev_handle).halted.discard(ep)

    def reset_device(self, dev_handle: _Handle) -> None:
        device = dev_handle.device
        with device.lock:
            connection = self._live(dev_handle)
            connection.halted.clear()
            connection.altsettings.clear()
            device._reset_state()

    # ---- transfers

    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array, timeout: int) -> int:
        return self._write(dev_handle, ep, intf, data)

    def intr_write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array, timeout: int) -> int:
        return self._write(dev_handle, ep, intf, data)

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        return self._read(dev_handle, ep, intf, buff, timeout)

    def intr_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        return self._read(dev_handle, ep, intf, buff, timeout)

    def ctrl_transfer(self, dev_handle: _Handle, bmRequestType: int, bRequest: int, wValue: int, wIndex: int,
                      data: array.array, timeout: int) -> int:
        device = dev_handle.device
        setup = ControlSetup(bmRequestType, bRequest, wValue, wIndex, len(data))
        with device.lock:
            connection = self._live(dev_handle)
            out_data = b"" if setup.direction_in else bytes(data)
            try:
                if setup.request_type == usb.util.CTRL_TYPE_STANDARD:
                    answer = device._standard_request(connection, setup, out_data)
                else:
                    answer = device.handle_control(setup, out_data)
            except EndpointStall as stall:
                raise usb_error(errno.EPIPE, str(stall)) from None
            if not setup.direction_in:
                return len(out_data)
            answer = (answer or b"")[: len(data)]
            data[: len(answer)] = array.array("B", answer)
            return len(answer)

    def _live(self, dev_handle: _Handle) -> _Connection:
        """The handle's connection; ENODEV if the device was unplugged since it was opened."""
        if not dev_handle.connection.alive:
            raise usb_error(errno.ENODEV)
        if not dev_handle.open:
            raise usb_error(errno.EINVAL, "handle is closed")
        return dev_handle.connection

    def _endpoint(self, dev_handle: _Handle, ep: int, intf: int) -> _Connection:
        """Check that ``ep`` is usable by this handle; claims the interface implicitly if nobody
        has (as Linux usbfs does), EBUSY if another handle has."""
        device = dev_handle.device
        connection = self._live(dev_handle)
        setting = _active_setting(device, connection, intf)
        if setting is None or all(e.bEndpointAddress != ep for e in setting.endpoints):
            raise usb_error(errno.ENOENT, f"no endpoint 0x{ep:02x} in interface {intf}")
        holder = connection.claims.get(intf)
        if holder is None:
            self.claim_interface(dev_handle, intf)
        elif holder is not dev_handle:
            raise usb_error(errno.EBUSY, f"interface {intf} is claimed by another handle")
        if ep in connection.halted:
            raise usb_error(errno.EPIPE, f"endpoint 0x{ep:02x} is halted")
        return connection

    def _write(self, dev_handle: _Handle, ep: int, intf: int, data: array.array) -> int:
        device = dev_handle.device
        with device.lock:
            connection = self._endpoint(dev_handle, ep, intf)
            try:
                device.handle_out(ep, bytes(data))
            except EndpointStall as stall:
                connection.halted.add(ep)
                raise usb_error(errno.EPIPE, str(stall)) from None
            return len(data)

    def _read(self, dev_handle: _Handle, ep: int, intf: int, buff: array.array, timeout: int) -> int:
        device = dev_handle.device
        with device.lock:
            connection = self._endpoint(dev_handle, ep, intf)
            try:
                # libusb: a timeout of 0 means no timeout.
                message = device.read_in(ep, len(buff), timeout / 1000 if timeout else None)
            except EndpointStall as stall:
                connection.halted.add(ep)
                raise usb_error(errno.EPIPE, str(stall)) from None
            # pyusb slices buff[:ret]: the buffer must be filled in place and the count returned.
            buff[: len(message)] = array.array("B", message)
            return len(message)
