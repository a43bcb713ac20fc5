"""Bringing the station's devices up: the real ones from the configuration, or the simulated station.

The simulated station is the whole of ``hardware_sim`` started at the other end of real wires (a
pty for the UART fingerprint module, a pyusb backend for the USB scanner, an MJPEG HTTP stream on
127.0.0.1 for the camera); the configuration is
then completed with the addresses the simulators chose, so everything above this module runs the
same code whether the devices are simulated or not (ARCHITECTURE rule 1).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

import usb.backend

from drivers.device import DeviceKind
from kiosk.config import DeviceConfig, StationConfig


@dataclass
class StationDevices:
    """Where the station's devices are: the completed configuration and the transports to search."""

    config: StationConfig
    usb_backends: list[usb.backend.IBackend | None] = field(default_factory=lambda: [None])
    serial_ports: list[str] = field(default_factory=list)
    simulation: object | None = None
    """The running :class:`hardware_sim.station.SimulatedStation`, for scripting a citizen."""

    @property
    def usb_backend(self) -> usb.backend.IBackend | None:
        """The backend configured USB devices are opened through (``None``: this machine's libusb)."""
        return self.usb_backends[0]


@contextlib.contextmanager
def bring_up(config: StationConfig, *, simulate: bool = False) -> Iterator[StationDevices]:
    """Yield the station's devices; with ``simulate`` (or a simulated configuration) start the simulators."""
    if not (simulate or config.simulated):
        configured_ports = [str(d.settings["port"]) for d in config.devices.values() if "port" in d.settings]
        yield StationDevices(config, serial_ports=configured_ports)
        return

    from hardware_sim.station import SimulatedStation

    with SimulatedStation() as simulation:
        devices = {
            DeviceKind.FINGERPRINT: DeviceConfig(
                DeviceKind.FINGERPRINT, "r30x", required=True, settings={"port": simulation.r30x.port}
            ),
            DeviceKind.CAMERA: DeviceConfig(
                DeviceKind.CAMERA, "opencv", required=True, settings={"source": simulation.camera.url}
            ),
            DeviceKind.CARD_READER: DeviceConfig(DeviceKind.CARD_READER, "ccid", required=True, settings={}),
        }
        simulated = dataclasses.replace(config, simulated=True, devices=devices)
        yield StationDevices(
            simulated,
            usb_backends=[simulation.usb_backend],
            serial_ports=[simulation.r30x.port],
            simulation=simulation,
        )
