"""Bringing the station's devices up: the real ones from the configuration, or the simulated station.

The simulated station is the whole of ``hardware_sim`` started at the other end of real wires (a
pty for the UART fingerprint module, a pyusb backend for the USB scanner and the CCID reader, an
MJPEG HTTP stream on 127.0.0.1 for the camera); the configuration is then completed with what a
real station's file would say: the addresses the simulators chose, the test CSCA its chips are
signed under as the trust store, and the development PINs and operator.  Everything above this
module runs the same code whether the devices are simulated or not (ARCHITECTURE rule 1).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import usb.backend
from cryptography.hazmat.primitives.serialization import Encoding

from drivers.device import DeviceKind
from station.config import DeviceConfig, StationConfig
from station.pin import hash_pin

log = logging.getLogger(__name__)

DEVELOPMENT_PINS = {"officer": "2468", "technician": "1357"}
"""PINs of the SIMULATED station when its configuration sets no hashes.  Development only: a real
station refuses to start without ``[kiosk] officer_pin`` and ``technician_pin`` hashes."""
DEVELOPMENT_OPERATOR = "dev-officer"
"""The officer written into the records of the SIMULATED station when ``[kiosk] operator_id`` is empty."""


@dataclass
class StationDevices:
    """Where the station's devices are: the completed configuration and the transports to search."""

    config: StationConfig
    usb_backends: list[usb.backend.IBackend | None] = field(default_factory=lambda: [None])
    serial_ports: list[str] = field(default_factory=list)
    simulation: object | None = None
    """The running :class:`hardware_sim.simulated_station.SimulatedStation`, for scripting a citizen."""

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

    from hardware_sim.simulated_station import SimulatedStation

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
        simulated = dataclasses.replace(config, simulated=True, devices=devices,
                                        kiosk=_simulated_kiosk(config, simulation))
        yield StationDevices(
            simulated,
            usb_backends=[simulation.usb_backend],
            serial_ports=[simulation.r30x.port],
            simulation=simulation,
        )


def _simulated_kiosk(config: StationConfig, simulation: Any) -> Any:
    """``[kiosk]`` completed for the simulated station: trust its test CSCA, development PINs and operator."""
    kiosk = config.kiosk
    trust = config.data_dir / "simulated-csca"
    trust.mkdir(parents=True, exist_ok=True)
    (trust / "test-csca.pem").write_bytes(simulation.csca_certificate.public_bytes(Encoding.PEM))
    pins = {}
    for role, pin in DEVELOPMENT_PINS.items():
        if not getattr(kiosk, f"{role}_pin"):
            log.warning("SIMULATED station: the %s PIN is the development PIN %s", role, pin)
            pins[f"{role}_pin"] = hash_pin(pin)
    return dataclasses.replace(kiosk, trust_store=trust, operator_id=kiosk.operator_id or DEVELOPMENT_OPERATOR,
                               **pins)


def with_scanner(devices: StationDevices, model: str) -> StationDevices:
    """The same simulated station with its other fingerprint scanner (``nb1010`` or ``r30x``) configured.

    The simulated station carries both; the R30x moves an image in about 3.5 s, the NB-1010 in
    milliseconds, so demos and UI tests take the NB-1010.
    """
    simulation: Any = devices.simulation
    if simulation is None:
        raise ValueError("only a simulated station carries both scanners")
    settings = {"port": simulation.r30x.port} if model == "r30x" else {}
    fingerprint = DeviceConfig(DeviceKind.FINGERPRINT, model, required=True, settings=settings)
    config = dataclasses.replace(devices.config,
                                 devices={**devices.config.devices, DeviceKind.FINGERPRINT: fingerprint})
    return dataclasses.replace(devices, config=config)
