"""Discovery: recognised USB devices by id or class, serial ports by the module's handshake."""

import os
import tty

from drivers.device import DeviceKind
from drivers.discovery import discover, discover_usb
from hardware_sim.nb1010 import NB1010Simulator
from hardware_sim.usb_virtual import (
    VirtualBackend,
    VirtualDevice,
    configuration_descriptor,
    device_descriptor,
    endpoint_descriptor,
    interface_descriptor,
)


def _class_device(interface_class: int, vendor: int = 0x1234, product: int = 0x5678) -> VirtualDevice:
    """A device recognised only by its interface class (a generic CCID reader, a UVC camera)."""
    interface = interface_descriptor(0, endpoint_descriptor(0x81, 2, 64), bInterfaceClass=interface_class)
    return VirtualDevice(device_descriptor(idVendor=vendor, idProduct=product) + configuration_descriptor(interface))


def test_nb1010_is_recognised_by_its_ids():
    backend = VirtualBackend()
    NB1010Simulator(backend)
    (found,) = discover_usb(backend)
    assert found.driver == "nb1010"
    assert found.info.kind is DeviceKind.FINGERPRINT
    assert (found.info.vendor_id, found.info.product_id) == (0x298D, 0x1010)
    assert found.info.address.startswith("usb:")


def test_unplugged_device_is_not_listed():
    backend = VirtualBackend()
    sim = NB1010Simulator(backend)
    sim.unplug()
    assert discover_usb(backend) == []


def test_card_readers_and_cameras_are_recognised_by_class():
    backend = VirtualBackend()
    backend.attach(_class_device(0x0B, product=1))
    backend.attach(_class_device(0x0E, product=2))
    backend.attach(_class_device(0xFF, product=3))  # vendor-specific: nothing we know
    kinds = sorted(str(found.info.kind) for found in discover_usb(backend))
    assert kinds == ["camera", "card_reader"]


def test_serial_module_found_by_handshake_and_silent_port_ignored(r30x_sim):
    sim = r30x_sim()
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        found = discover([], [sim.port, os.ttyname(slave)], probe_usb_serial=False, probe_timeout=0.2)
    finally:
        os.close(master)
        os.close(slave)
    assert [(f.driver, f.info.address) for f in found] == [("r30x", sim.port)]
