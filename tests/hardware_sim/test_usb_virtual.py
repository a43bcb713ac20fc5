"""The virtual pyusb backend, exercised through unmodified pyusb calls."""

from __future__ import annotations

import array
import errno
import threading
import time

import pytest
import usb.core
import usb.util

from hardware_sim.usb_virtual import (
    ControlSetup,
    EndpointStall,
    VirtualBackend,
    VirtualDevice,
    configuration_descriptor,
    device_descriptor,
    endpoint_descriptor,
    interface_descriptor,
    parse_descriptors,
)

VID, PID = 0x1234, 0xABCD
BULK, INTERRUPT = 0x02, 0x03
# A class-specific interface descriptor (type 0x21, like CCID's) and an endpoint companion-ish one.
FUNCTIONAL = bytes([6, 0x21, 0x10, 0x01, 0x00, 0x07])
EP_EXTRA = bytes([4, 0x25, 0x01, 0x00])
IAD = bytes([8, 0x0B, 0, 2, 0xFF, 0, 0, 0])

DESCRIPTORS = device_descriptor(
    idVendor=VID, idProduct=PID, bcdDevice=0x0123, iManufacturer=1, iProduct=2, iSerialNumber=3,
) + configuration_descriptor(
    interface_descriptor(
        0,
        endpoint_descriptor(0x01, BULK, 64),
        endpoint_descriptor(0x82, BULK, 64, extra=EP_EXTRA),
        endpoint_descriptor(0x83, INTERRUPT, 8, 10),
        bInterfaceClass=0x0B, extra=FUNCTIONAL,
    ),
    interface_descriptor(1, bInterfaceClass=0xFF),
    interface_descriptor(1, endpoint_descriptor(0x84, BULK, 64), bAlternateSetting=1, bInterfaceClass=0xFF),
    bmAttributes=0xC0, bMaxPower=50, extra=IAD,
)


class EchoDevice(VirtualDevice):
    """Echoes bulk OUT 0x01 onto bulk IN 0x82; answers vendor request 0x42; stalls on b"stall"."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(DESCRIPTORS, strings={1: "Acme", 2: "Echo 3000", 3: "SN-0042"}, **kwargs)
        self.vendor_out: list[tuple[int, bytes]] = []
        self.resets = 0

    def handle_out(self, endpoint: int, data: bytes) -> None:
        if data == b"stall":
            raise EndpointStall("told to")
        self.queue_in(0x82, data)

    def handle_control(self, setup: ControlSetup, data: bytes) -> bytes | None:
        if setup.bRequest != 0x42:
            raise EndpointStall("unknown request")
        if setup.direction_in:
            return bytes(range(setup.wValue))
        self.vendor_out.append((setup.wValue, data))
        return None

    def on_reset(self) -> None:
        self.resets += 1


@pytest.fixture
def backend() -> VirtualBackend:
    return VirtualBackend()


@pytest.fixture
def echo(backend: VirtualBackend) -> EchoDevice:
    device = EchoDevice()
    backend.attach(device, bus=3, port_numbers=(2, 4))
    return device


def find(backend: VirtualBackend) -> usb.core.Device:
    dev = usb.core.find(idVendor=VID, idProduct=PID, backend=backend)
    assert dev is not None
    return dev


def test_device_descriptor_fields_reach_pyusb(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    assert (dev.bLength, dev.bDescriptorType, dev.bcdUSB) == (18, 1, 0x0200)
    assert (dev.idVendor, dev.idProduct, dev.bcdDevice, dev.bMaxPacketSize0) == (VID, PID, 0x0123, 64)
    assert (dev.iManufacturer, dev.iProduct, dev.iSerialNumber, dev.bNumConfigurations) == (1, 2, 3, 1)
    assert (dev.bus, dev.address, dev.port_number, dev.port_numbers) == (3, 2, 4, (2, 4))
    assert dev.speed == usb.util.SPEED_FULL


def test_configuration_interfaces_and_endpoints_reach_pyusb(backend: VirtualBackend, echo: EchoDevice) -> None:
    cfg = find(backend)[0]
    assert (cfg.bLength, cfg.wTotalLength, cfg.bNumInterfaces) == (9, len(DESCRIPTORS) - 18, 2)
    assert (cfg.bConfigurationValue, cfg.bmAttributes, cfg.bMaxPower) == (1, 0xC0, 50)
    assert bytes(cfg.extra_descriptors) == IAD
    interfaces = list(cfg)
    assert [(i.bInterfaceNumber, i.bAlternateSetting, i.bNumEndpoints) for i in interfaces] == [
        (0, 0, 3), (1, 0, 0), (1, 1, 1)]
    assert bytes(interfaces[0].extra_descriptors) == FUNCTIONAL
    endpoints = list(interfaces[0])
    assert [(e.bEndpointAddress, e.bmAttributes, e.wMaxPacketSize, e.bInterval) for e in endpoints] == [
        (0x01, BULK, 64, 0), (0x82, BULK, 64, 0), (0x83, INTERRUPT, 8, 10)]
    assert all(e.bLength == 7 and e.bDescriptorType == 5 for e in endpoints)
    assert bytes(endpoints[1].extra_descriptors) == EP_EXTRA
    assert endpoints[0].extra_descriptors == []


def test_get_descriptor_returns_the_raw_bytes(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    device_raw = usb.control.get_descriptor(dev, 18, usb.util.DESC_TYPE_DEVICE, 0)
    config_raw = usb.control.get_descriptor(dev, 255, usb.util.DESC_TYPE_CONFIG, 0)
    assert bytes(device_raw) + bytes(config_raw) == DESCRIPTORS
    assert bytes(usb.control.get_descriptor(dev, 9, usb.util.DESC_TYPE_CONFIG, 0)) == DESCRIPTORS[18:27]


def test_string_descriptors(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    assert dev.langids == (0x0409,)
    assert (dev.manufacturer, dev.product, dev.serial_number) == ("Acme", "Echo 3000", "SN-0042")
    with pytest.raises(usb.core.USBError) as stalled:
        usb.util.get_string(dev, 9)
    assert stalled.value.errno == errno.EPIPE


def test_configuration_can_be_read_and_set(backend: VirtualBackend) -> None:
    device = EchoDevice()
    backend.attach(device, configuration=0)
    dev = find(backend)
    with pytest.raises(usb.core.USBError, match="Configuration not set"):
        dev.get_active_configuration()
    dev.set_configuration()
    assert dev.get_active_configuration().bConfigurationValue == 1
    assert bytes(dev.ctrl_transfer(0x80, 0x08, 0, 0, 1)) == b"\x01"


def test_alternate_setting(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    with pytest.raises(ValueError, match="0x84"):
        dev.write(0x84, b"x")  # not in the active (default) setting
    dev.set_interface_altsetting(interface=1, alternate_setting=1)
    assert dev.write(0x84, b"x") == 1
    assert bytes(dev.ctrl_transfer(0x81, 0x0A, 0, 1, 1)) == b"\x01"


def test_bulk_round_trip_fills_the_callers_buffer(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    assert dev.write(0x01, b"hello") == 5
    buffer = array.array("B", bytes(64))
    assert dev.read(0x82, buffer) == 5
    assert bytes(buffer[:5]) == b"hello"
    dev.write(0x01, b"again")
    assert bytes(dev.read(0x82, 512)) == b"again"


def test_long_message_splits_at_whole_packets_and_overflows_otherwise(
        backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    message = bytes(range(200))
    dev.write(0x01, message)
    assert bytes(dev.read(0x82, 128)) == message[:128]  # 2 full packets: the rest waits
    assert bytes(dev.read(0x82, 128)) == message[128:]
    dev.write(0x01, message)
    with pytest.raises(usb.core.USBError) as overflow:
        dev.read(0x82, 100)
    assert overflow.value.errno == errno.EOVERFLOW


def test_interrupt_in_waits_for_data_from_another_thread(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    threading.Timer(0.1, echo.queue_in, (0x83, b"\x50\x03")).start()
    assert bytes(dev.read(0x83, 8, timeout=5000)) == b"\x50\x03"


def test_in_transfer_times_out(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    with pytest.raises(usb.core.USBTimeoutError) as timed_out:
        dev.read(0x83, 8, timeout=50)
    assert timed_out.value.errno == errno.ETIMEDOUT


def test_stall_halts_the_endpoint_until_cleared(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    with pytest.raises(usb.core.USBError) as stalled:
        dev.write(0x01, b"stall")
    assert stalled.value.errno == errno.EPIPE
    with pytest.raises(usb.core.USBError) as still:
        dev.write(0x01, b"ok")
    assert still.value.errno == errno.EPIPE
    dev.clear_halt(0x01)
    assert dev.write(0x01, b"ok") == 2


def test_vendor_control_requests_reach_the_device(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    assert bytes(dev.ctrl_transfer(0xC0, 0x42, 5, 0, 16)) == bytes(range(5))
    assert dev.ctrl_transfer(0x40, 0x42, 7, 0, b"abc") == 3
    assert echo.vendor_out == [(7, b"abc")]
    with pytest.raises(usb.core.USBError) as stalled:
        dev.ctrl_transfer(0xC0, 0x43, 0, 0, 4)
    assert stalled.value.errno == errno.EPIPE


def test_detach_hides_the_device_and_kills_its_handles(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    dev.write(0x01, b"x")
    assert echo.connected
    backend.detach(echo)
    assert not echo.connected
    assert usb.core.find(idVendor=VID, backend=backend) is None
    with pytest.raises(usb.core.USBError) as gone:
        dev.write(0x01, b"x")
    assert gone.value.errno == errno.ENODEV
    assert "No such device" in str(gone.value)


def test_detach_wakes_a_waiting_transfer(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    threading.Timer(0.2, backend.detach, (echo,)).start()
    started = time.monotonic()
    with pytest.raises(usb.core.USBError) as gone:
        dev.read(0x83, 8, timeout=10_000)
    assert gone.value.errno == errno.ENODEV
    assert time.monotonic() - started < 5


def test_reattach_gives_a_new_address_and_old_handles_stay_dead(
        backend: VirtualBackend, echo: EchoDevice) -> None:
    old = find(backend)
    old.write(0x01, b"x")
    backend.detach(echo)
    backend.attach(echo, bus=3)
    new = find(backend)
    assert new.address != old.address
    with pytest.raises(usb.core.USBError) as gone:
        old.write(0x01, b"x")
    assert gone.value.errno == errno.ENODEV
    new.write(0x01, b"fresh")
    assert bytes(new.read(0x82, 64)) == b"fresh"  # the queue was flushed by the re-attach
    assert echo.resets == 2


def test_second_program_cannot_claim_a_claimed_interface(backend: VirtualBackend, echo: EchoDevice) -> None:
    first, second = find(backend), find(backend)
    usb.util.claim_interface(first, 0)
    with pytest.raises(usb.core.USBError) as busy:
        usb.util.claim_interface(second, 0)
    assert busy.value.errno == errno.EBUSY
    usb.util.dispose_resources(first)
    usb.util.claim_interface(second, 0)


def test_kernel_driver_must_be_detached_before_claiming(backend: VirtualBackend) -> None:
    device = EchoDevice(kernel_driver_interfaces=[0])
    backend.attach(device)
    dev = find(backend)
    assert dev.is_kernel_driver_active(0)
    with pytest.raises(usb.core.USBError) as busy:
        usb.util.claim_interface(dev, 0)
    assert busy.value.errno == errno.EBUSY
    dev.detach_kernel_driver(0)
    assert not dev.is_kernel_driver_active(0)
    usb.util.claim_interface(dev, 0)
    usb.util.release_interface(dev, 0)
    dev.attach_kernel_driver(0)
    assert dev.is_kernel_driver_active(0)


def test_access_denied_at_open(backend: VirtualBackend) -> None:
    backend.attach(EchoDevice(access_denied=True))
    with pytest.raises(usb.core.USBError) as denied:
        find(backend).write(0x01, b"x")
    assert denied.value.errno == errno.EACCES


def test_reset_flushes_queued_data(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    dev.write(0x01, b"stale")
    dev.reset()
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(0x82, 64, timeout=20)


def test_concurrent_transfers_from_several_threads(backend: VirtualBackend, echo: EchoDevice) -> None:
    dev = find(backend)
    received: list[bytes] = []

    def reader() -> None:
        for _ in range(200):
            received.append(bytes(dev.read(0x82, 64, timeout=5000)))

    def writer(tag: int) -> None:
        for n in range(100):
            dev.write(0x01, bytes([tag, n]))

    threads = [threading.Thread(target=reader)] + [threading.Thread(target=writer, args=(t,)) for t in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(received) == sorted(bytes([t, n]) for t in (1, 2) for n in range(100))


def test_attach_refuses_a_used_address_and_a_double_attach(backend: VirtualBackend, echo: EchoDevice) -> None:
    with pytest.raises(ValueError, match="already attached"):
        backend.attach(echo)
    with pytest.raises(ValueError, match="in use"):
        backend.attach(EchoDevice(), bus=3, address=2)


@pytest.mark.parametrize(("raw", "message"), [
    (DESCRIPTORS[:10], "18-byte device descriptor"),
    (DESCRIPTORS[:-3], "wTotalLength"),
    (DESCRIPTORS + b"\x00", "after the last configuration"),
    (device_descriptor(idVendor=1, idProduct=2) + configuration_descriptor(
        bytes([9, 4, 0, 0, 2, 0, 0, 0, 0]) + endpoint_descriptor(0x81, BULK, 64)), "bNumEndpoints 2"),
    (DESCRIPTORS[:18] + bytes([9, 2, 12, 0, 1, 1, 0, 0x80, 50, 1, 4, 0]), "bLength 1"),
])
def test_malformed_descriptors_are_rejected(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_descriptors(raw)
