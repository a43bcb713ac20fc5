"""The simulated station: every simulated device started together, and a citizen to script.

``enrol diag --sim``, the kiosk's ``--sim`` mode, the end-to-end tests and the benches all use
this.  Each simulator is the other end of a real wire (a pty for the UART module, a pyusb backend
for the USB scanner and the CCID card reader, an MJPEG HTTP stream on 127.0.0.1 for the camera),
so the product code above it cannot tell it from hardware.  The chip cards it inserts are signed by
a test CSCA made for the run (:attr:`csca_certificate`), which the simulated station trusts.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Literal

import numpy as np
from cryptography import x509

from hardware_sim.camera import CameraSimulator
from hardware_sim.ccid import CcidReaderSimulator
from hardware_sim.citizens import Citizen, make_citizen
from hardware_sim.emrtd import EmrtdChip, run_pki
from hardware_sim.fingerprints import render_impression
from hardware_sim.nb1010 import NB1010Simulator
from hardware_sim.r30x import R30xSimulator
from hardware_sim.usb_virtual import VirtualBackend

ScannerName = Literal["r30x", "nb1010"]

#: Sensor geometry of each simulated scanner: (width, height, ppi).  The R30x window is 256 x 288
#: pixels; its resolution is not published reliably, and 500 ppi is what its image is used as.  The
#: NB-1010-U is 256 x 180 at 385 ppi (16.9 x 11.9 mm).
SENSORS: dict[ScannerName, tuple[int, int, int]] = {"r30x": (256, 288, 500), "nb1010": (256, 180, 385)}


class SimulatedStation:
    """A UART fingerprint module on a pty, an NB-1010-U and a CCID card reader on a virtual USB bus,
    and a 1280 x 720, 30 fps camera streaming MJPEG over HTTP (its scene: :meth:`CameraSimulator.set_scene`)."""

    def __init__(self, **r30x_options: Any) -> None:
        self.usb_backend = VirtualBackend()
        self.r30x = R30xSimulator(**r30x_options)
        self.nb1010: NB1010Simulator | None = None
        self.camera = CameraSimulator(1280, 720, 30.0)
        self.card_reader: CcidReaderSimulator | None = None

    @property
    def csca_certificate(self) -> x509.Certificate:
        """The test country signing CA under which every simulated chip of this run is signed."""
        return run_pki().csca_certificate

    def start(self) -> SimulatedStation:
        self.r30x.start()
        self.nb1010 = NB1010Simulator(self.usb_backend)
        self.card_reader = CcidReaderSimulator(self.usb_backend)
        self.camera.start()
        return self

    def stop(self) -> None:
        self.camera.stop()
        self.r30x.stop()
        if self.nb1010 is not None:
            self.nb1010.unplug()
        if self.card_reader is not None:
            self.usb_backend.detach(self.card_reader)

    def insert_card(self, citizen_seed: int, **chip_options: Any) -> Citizen:
        """Put the chip card of synthetic citizen ``citizen_seed`` on the reader; returns the citizen."""
        if self.card_reader is None:
            raise RuntimeError("the simulated station is not started")
        citizen = make_citizen(citizen_seed)
        self.card_reader.insert_card(EmrtdChip(citizen, **chip_options))
        return citizen

    def remove_card(self) -> None:
        if self.card_reader is not None:
            self.card_reader.remove_card()

    def __enter__(self) -> SimulatedStation:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def scanner(self, name: ScannerName) -> R30xSimulator | NB1010Simulator:
        """The simulator called ``name``."""
        if name == "r30x":
            return self.r30x
        if self.nb1010 is None:
            raise RuntimeError("the simulated station is not started")
        return self.nb1010

    def finger_image(self, citizen_seed: int, position: int, scanner: ScannerName = "r30x",
                     **impression: float) -> np.ndarray:
        """The image ``scanner`` would see of this citizen's finger (see ``render_impression``)."""
        width, height, ppi = SENSORS[scanner]
        return render_impression(citizen_seed, position, width=width, height=height, ppi=ppi, **impression)

    def present_finger(self, citizen_seed: int, position: int, scanner: ScannerName = "r30x",
                       **impression: float) -> None:
        """Put a synthetic citizen's finger (ISO/IEC 19794-4 position 1-10) on ``scanner``."""
        self.scanner(scanner).place_finger(self.finger_image(citizen_seed, position, scanner, **impression))

    def lift_finger(self, scanner: ScannerName = "r30x") -> None:
        self.scanner(scanner).lift_finger()
