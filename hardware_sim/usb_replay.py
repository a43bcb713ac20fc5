"""Replay of a umockdev USB recording as a pyusb backend: recorded traffic becomes a strict script.

A recording is a directory with a ``device`` file (``umockdev-record`` output) and one ``*.ioctl``
file (``umockdev-record --ioctl``), like shared/testdata/usb/nb1010/.  Usage::

    backend = ReplayBackend.from_directory(path)
    device = usb.core.find(idVendor=..., idProduct=..., backend=backend)
    ...                       # drive it with the driver under test
    backend.assert_finished()  # every recorded transfer was made

Format decisions:

* ``device``: blocks separated by blank lines, one per sysfs device, lines ``P:`` (path), ``N:``
  (device node, ``=`` and its contents in hex), ``E:`` (udev property), ``A:`` (attribute, with
  ``\\n`` escapes), ``L:`` (link), ``H:`` (binary attribute in hex).  The USB device is the first
  block whose ``N:`` node is ``bus/usb/BBB/DDD``; its hex is the raw descriptors (device descriptor
  then every full configuration, as in sysfs ``descriptors``); bus and address come from the node
  name, the active configuration from the ``bConfigurationValue`` attribute, the speed from
  ``speed`` (Mbit/s), and string descriptors from the ``manufacturer``, ``product`` and ``serial``
  attributes at the indices the device descriptor gives.  The kernel reads strings at enumeration,
  so they are not in the traffic; they are offered in language 0x0409 (not recorded; the one
  almost every device has).  Standard control requests (descriptors, configuration) are answered
  from this description and are not part of the script.
* ``*.ioctl``: an ``@DEV /dev/bus/usb/BBB/DDD`` line, then one ioctl a line; leading spaces only
  show umockdev's nesting (an IN URB is filed under the URB before it) and are ignored: the file
  order is the order the host reaped the URBs in.  ``USBDEVFS_REAPURB`` and
  ``USBDEVFS_REAPURBNDELAY`` lines are the script: ``<ret> <type> <endpoint> <status> <flags>
  <buffer_length> <actual_length> <error_count> <hex>`` (umockdev's ``usbdevfs_reapurb_write``),
  where the hex is what the host sent (OUT, ``buffer_length`` bytes) or what the device returned
  (IN, ``actual_length`` bytes).  Types 1 (interrupt) and 3 (bulk) are replayed; control and
  isochronous URBs are rejected when parsing, loudly, rather than skipped.
  ``USBDEVFS_GET_CAPABILITIES`` and ``USBDEVFS_CONNECTINFO`` describe the kernel, not the device,
  and are ignored; any other ioctl is an error.
* Matching, as umockdev's own playback does: an OUT transfer must go to the recorded endpoint with
  exactly the recorded bytes; an IN transfer must read the recorded endpoint into a buffer of the
  recorded ``buffer_length``, and gets the recorded bytes.  A non-zero recorded ``status`` (a
  negative errno) is replayed as the error libusb would raise.  URB flags and the host's timeouts
  are not compared (pyusb cannot set the one, and the other does not change the bytes).
* A host that departs from the script - different bytes, endpoint, direction, buffer size, or a
  transfer past the end - gets :class:`ReplayMismatch`, naming the transfer index, the recording
  line and both sides in hex.  It subclasses AssertionError, not ``usb.core.USBError``: it is a
  test failure of the host code, and a driver that turns USBError into typed device errors must
  not be able to disguise it as a device fault.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import usb.util

from hardware_sim.usb_virtual import (
    LANGID_EN_US,
    EndpointStall,
    VirtualBackend,
    VirtualDevice,
    parse_descriptors,
    usb_error,
)

URB_TYPE_INTERRUPT = 1
URB_TYPE_BULK = 3
_REPLAYED_TYPES = {URB_TYPE_INTERRUPT: "interrupt", URB_TYPE_BULK: "bulk"}
_IGNORED_IOCTLS = {"USBDEVFS_GET_CAPABILITIES", "USBDEVFS_CONNECTINFO"}
_REAP_IOCTLS = {"USBDEVFS_REAPURB", "USBDEVFS_REAPURBNDELAY"}
_SPEEDS = {"1.5": usb.util.SPEED_LOW, "12": usb.util.SPEED_FULL, "480": usb.util.SPEED_HIGH,
           "5000": usb.util.SPEED_SUPER}


class ReplayMismatch(AssertionError):
    """The host did something other than what the recording says it did next."""


@dataclass(frozen=True)
class RecordedTransfer:
    """One reaped URB of the recording."""

    index: int
    """Position in the script, from 0."""
    line: int
    """Line number in the ioctl file, from 1."""
    urb_type: int
    endpoint: int
    status: int
    buffer_length: int
    actual_length: int
    data: bytes
    """OUT: the bytes the host sent; IN: the bytes the device returned."""

    @property
    def direction_in(self) -> bool:
        return bool(self.endpoint & 0x80)

    def describe(self) -> str:
        """E.g. ``bulk IN 0x83, 16 bytes: 8037...`` for mismatch messages."""
        direction = "IN" if self.direction_in else "OUT"
        return (f"{_REPLAYED_TYPES[self.urb_type]} {direction} 0x{self.endpoint:02x}, "
                f"{len(self.data)} bytes: {self.data.hex()}")


@dataclass(frozen=True)
class RecordedDevice:
    """The USB device of a umockdev ``device`` file."""

    descriptors: bytes
    bus: int
    address: int
    configuration: int
    speed: int
    strings: dict[int, str]
    sysfs_path: str


def _unescape(value: str) -> str:
    return value.replace("\\n", "\n").strip()


def parse_device_file(text: str, *, node: str | None = None) -> RecordedDevice:
    """Read the USB device out of a umockdev ``device`` file (see the module docstring): the one
    whose device node is ``node`` (e.g. ``/dev/bus/usb/001/003``, an ioctl file's ``@DEV``), else
    the first USB device in the file."""
    wanted = None if node is None else node.removeprefix("/dev/")
    for block in re.split(r"\n\s*\n", text):
        lines = [line for line in block.splitlines() if len(line) > 3 and line[1:3] == ": "]
        nodes = [line[3:] for line in lines if line.startswith("N: ")]
        match = next((m for node in nodes if (m := re.fullmatch(r"bus/usb/(\d+)/(\d+)=([0-9A-Fa-f]+)", node))),
                     None)
        if match is None or (wanted is not None and not match.group(0).startswith(wanted + "=")):
            continue
        attributes = {}
        for line in lines:
            if line.startswith("A: ") and "=" in line:
                name, _, value = line[3:].partition("=")
                attributes[name] = _unescape(value)
        descriptors = bytes.fromhex(match.group(3))
        device = parse_descriptors(descriptors).device
        strings = {index: attributes[name]
                   for name, index in (("manufacturer", device.iManufacturer), ("product", device.iProduct),
                                       ("serial", device.iSerialNumber))
                   if index and name in attributes}
        path = next((line[3:] for line in lines if line.startswith("P: ")), "")
        return RecordedDevice(
            descriptors=descriptors, bus=int(match.group(1)), address=int(match.group(2)),
            configuration=int(attributes.get("bConfigurationValue") or 1),
            speed=_SPEEDS.get(attributes.get("speed", ""), usb.util.SPEED_UNKNOWN),
            strings=strings, sysfs_path=path,
        )
    raise ValueError(f"no USB device (an 'N: {wanted or 'bus/usb/BBB/DDD'}=<hex>' line) in the device file")


def parse_ioctl_file(text: str, *, source: str = "ioctl file") -> list[RecordedTransfer]:
    """The script of reaped URBs of a umockdev ioctl recording (see the module docstring)."""
    transfers: list[RecordedTransfer] = []
    devices = 0
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("@DEV "):
            devices += 1
            if devices > 1:
                raise ValueError(f"{source}:{number}: more than one @DEV section; split the recording")
            continue
        name, *fields = line.split()
        if name in _IGNORED_IOCTLS:
            continue
        if name not in _REAP_IOCTLS:
            raise ValueError(f"{source}:{number}: ioctl {name} cannot be replayed")
        if len(fields) not in (8, 9):
            raise ValueError(f"{source}:{number}: expected 8 numbers and the hex buffer, got {line!r}")
        _ret, urb_type, endpoint, status, _flags, buffer_length, actual_length, _errors = map(int, fields[:8])
        if urb_type not in _REPLAYED_TYPES:
            raise ValueError(f"{source}:{number}: URB type {urb_type} (only interrupt and bulk are replayed)")
        data = bytes.fromhex(fields[8]) if len(fields) == 9 else b""
        expected = actual_length if endpoint & 0x80 else buffer_length
        if len(data) != expected:
            raise ValueError(f"{source}:{number}: {len(data)} bytes of data, the URB says {expected}")
        transfers.append(RecordedTransfer(len(transfers), number, urb_type, endpoint, status, buffer_length,
                                          actual_length, data))
    return transfers


class ReplayDevice(VirtualDevice):
    """A device that answers with a recording and checks that the host follows it."""

    def __init__(self, device: RecordedDevice, transfers: Sequence[RecordedTransfer], *,
                 source: str = "recording") -> None:
        super().__init__(device.descriptors, strings=device.strings, langids=(LANGID_EN_US,), speed=device.speed)
        self.recorded = device
        self.transfers = tuple(transfers)
        self.source = source
        self._position = 0
        self._check_endpoints()

    @property
    def position(self) -> int:
        """How many recorded transfers the host has made."""
        with self.lock:
            return self._position

    @property
    def finished(self) -> bool:
        """Whether every recorded transfer has been made."""
        return self.position == len(self.transfers)

    def assert_finished(self) -> None:
        """Raise ReplayMismatch if the host stopped before the end of the recording."""
        with self.lock:
            if self._position < len(self.transfers):
                upcoming = self.transfers[self._position]
                raise ReplayMismatch(
                    f"{self.source}: the host made {self._position} of {len(self.transfers)} recorded transfers; "
                    f"next was transfer {upcoming.index} (line {upcoming.line}): {upcoming.describe()}")

    def on_reset(self) -> None:
        """A reset is not in a URB recording; the script position is kept, not rewound."""

    def handle_out(self, endpoint: int, data: bytes) -> None:
        expected = self._next(f"wrote {len(data)} bytes to endpoint 0x{endpoint:02x}: {data.hex()}")
        if expected.direction_in or expected.endpoint != endpoint or expected.data != data:
            raise self._mismatch(expected, f"wrote to endpoint 0x{endpoint:02x} {len(data)} bytes: {data.hex()}"
                                 + _first_difference(expected.data, data, expected.direction_in))
        self._position += 1
        self._raise_status(expected)

    def read_in(self, endpoint: int, max_length: int, timeout_s: float | None) -> bytes:
        with self.lock:
            if self._connection is None or not self._connection.alive:
                raise usb_error(errno.ENODEV)
            what = f"read endpoint 0x{endpoint:02x} into a {max_length}-byte buffer"
            expected = self._next(what)
            if not expected.direction_in or expected.endpoint != endpoint or expected.buffer_length != max_length:
                raise self._mismatch(expected, what)
            self._position += 1
            self._raise_status(expected)
            return expected.data

    def _next(self, host_action: str) -> RecordedTransfer:
        if self._position >= len(self.transfers):
            raise ReplayMismatch(f"{self.source}: the host {host_action} after the last of the "
                                 f"{len(self.transfers)} recorded transfers")
        return self.transfers[self._position]

    def _mismatch(self, expected: RecordedTransfer, host_action: str) -> ReplayMismatch:
        return ReplayMismatch(f"{self.source}: transfer {expected.index} (line {expected.line}): expected "
                              f"{expected.describe()}; the host {host_action}")

    @staticmethod
    def _raise_status(transfer: RecordedTransfer) -> None:
        if transfer.status == -errno.EPIPE:
            raise EndpointStall(f"recorded stall at line {transfer.line}")
        if transfer.status:
            raise usb_error(-transfer.status, f"recorded at line {transfer.line}: {os.strerror(-transfer.status)}")

    def _check_endpoints(self) -> None:
        """Every recorded URB must use an endpoint of the recorded descriptors, of its type."""
        types = {ep.bEndpointAddress: ep.transfer_type
                 for config in self.descriptors.configurations for alts in config.interfaces
                 for alt in alts for ep in alt.endpoints}
        wanted = {URB_TYPE_BULK: usb.util.ENDPOINT_TYPE_BULK, URB_TYPE_INTERRUPT: usb.util.ENDPOINT_TYPE_INTR}
        for transfer in self.transfers:
            if types.get(transfer.endpoint) != wanted[transfer.urb_type]:
                raise ValueError(f"{self.source}: line {transfer.line} uses endpoint 0x{transfer.endpoint:02x} "
                                 f"as {_REPLAYED_TYPES[transfer.urb_type]}, which the descriptors do not describe")


def _first_difference(expected: bytes, actual: bytes, expected_in: bool) -> str:
    if expected_in:
        return ""
    offset = next((i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
                  min(len(expected), len(actual)))
    return f" (first difference at byte {offset})"


class ReplayBackend(VirtualBackend):
    """A pyusb backend holding one :class:`ReplayDevice`, at the recorded bus address."""

    def __init__(self, device: ReplayDevice) -> None:
        super().__init__()
        self.device = device
        recorded = device.recorded
        self.attach(device, bus=recorded.bus, address=recorded.address, configuration=recorded.configuration)

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str], *, ioctl_file: str | None = None) -> ReplayBackend:
        """Load ``path/device`` and the directory's one ``*.ioctl`` file (or ``ioctl_file``)."""
        directory = Path(path)
        if ioctl_file is None:
            candidates = sorted(directory.glob("*.ioctl"))
            if len(candidates) != 1:
                raise ValueError(f"{directory}: expected one *.ioctl file, found {len(candidates)}; "
                                 "name it with ioctl_file=")
            ioctl_path = candidates[0]
        else:
            ioctl_path = directory / ioctl_file
        ioctl_text = ioctl_path.read_text(encoding="utf-8")
        node = re.search(r"^@DEV (\S+)", ioctl_text, re.MULTILINE)
        recorded = parse_device_file((directory / "device").read_text(encoding="utf-8"),
                                     node=node.group(1) if node else None)
        transfers = parse_ioctl_file(ioctl_text, source=str(ioctl_path))
        return cls(ReplayDevice(recorded, transfers, source=str(ioctl_path)))

    @property
    def finished(self) -> bool:
        """Whether the host has made every recorded transfer."""
        return self.device.finished

    def assert_finished(self) -> None:
        """Raise ReplayMismatch naming the next transfer if the recording was not played to the end."""
        self.device.assert_finished()
