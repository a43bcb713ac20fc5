"""Fingerprint scanner models chosen by name, the way python-can chooses a bus backend.

A configuration says ``model = "r30x"`` plus that model's settings; each model's settings class
says what it accepts (types and ranges, from the module's datasheet), and :func:`create_scanner`
turns checked settings into an (unopened) driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import usb.backend
from pydantic import Field
from pydantic.dataclasses import dataclass

from drivers.fingerprint import nb1010, r30x
from drivers.fingerprint.base import FingerprintScanner
from drivers.settings import STRICT, DeviceModel, make_driver, one_of

R30X_BAUDRATES = tuple(r30x.BAUD_UNIT * n for n in range(1, r30x.MAX_BAUD_MULTIPLIER + 1))
"""The line speeds an R30x module can be set to: 9600 × N, N = 1..12 (ZFM-20 datasheet, SetSysPara
parameter 4)."""


Baudrate = Annotated[int, one_of(R30X_BAUDRATES, "9600 × N for N = 1..12")]
Word = Annotated[int, Field(ge=0, le=0xFFFF_FFFF)]
"""The module's address and password are 32-bit words on the wire (ZFM-20 datasheet, packet format
and VfyPwd); e.g. the factory address 0xFFFFFFFF is written 4294967295 or 0xFFFFFFFF in TOML."""


@dataclass(frozen=True, config=STRICT)
class R30xSettings:
    port: Annotated[str, Field(min_length=1)]
    """The serial device, e.g. /dev/ttyUSB0."""
    baudrate: Baudrate | None = None
    max_baudrate: Baudrate | None = None
    address: Word | None = None
    password: Word | None = None
    timeout: Annotated[float, Field(gt=0, le=60)] | None = None
    ppi: Annotated[int, Field(ge=250, le=1000)] | None = None


@dataclass(frozen=True, config=STRICT)
class Nb1010Settings:
    timeout_ms: Annotated[int, Field(ge=10, le=60_000)] | None = None


def _nb1010(usb_backend: usb.backend.IBackend | None, **settings: Any) -> FingerprintScanner:
    return nb1010.NB1010Scanner(nb1010.find(backend=usb_backend), **settings)


SCANNER_MODELS: dict[str, DeviceModel[FingerprintScanner]] = {
    "r30x": DeviceModel(R30xSettings, lambda _usb_backend, **settings: r30x.R30xScanner(**settings)),
    "nb1010": DeviceModel(Nb1010Settings, _nb1010),
}


def create_scanner(
    model: str, settings: Mapping[str, Any], *, usb_backend: usb.backend.IBackend | None = None
) -> FingerprintScanner:
    """An unopened driver for ``model`` with ``settings``; USB models are looked up on ``usb_backend``."""
    return make_driver(SCANNER_MODELS, "fingerprint scanner", model, settings, usb_backend)
