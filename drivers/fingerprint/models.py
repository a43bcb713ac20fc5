"""Fingerprint scanner models chosen by name, the way python-can chooses a bus backend.

A configuration says ``model = "r30x"`` plus that model's settings; :func:`create_scanner` turns
that into an (unopened) driver and rejects settings the model does not know, naming them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import usb.backend

from drivers.fingerprint import nb1010, r30x
from drivers.fingerprint.base import FingerprintScanner
from drivers.settings import check_settings, model_factory


def _r30x(settings: Mapping[str, Any], usb_backend: usb.backend.IBackend | None) -> FingerprintScanner:
    check_settings(settings, "scanner 'r30x'", required={"port"},
                   optional={"baudrate", "max_baudrate", "address", "password", "timeout", "ppi"})
    return r30x.R30xScanner(**settings)


def _nb1010(settings: Mapping[str, Any], usb_backend: usb.backend.IBackend | None) -> FingerprintScanner:
    check_settings(settings, "scanner 'nb1010'", optional={"timeout_ms"})
    return nb1010.NB1010Scanner(nb1010.find(backend=usb_backend), **settings)


#: model name -> factory(settings, usb_backend)
SCANNER_MODELS: dict[str, Callable[[Mapping[str, Any], usb.backend.IBackend | None], FingerprintScanner]] = {
    "r30x": _r30x,
    "nb1010": _nb1010,
}


def create_scanner(
    model: str, settings: Mapping[str, Any], *, usb_backend: usb.backend.IBackend | None = None
) -> FingerprintScanner:
    """An unopened driver for ``model`` with ``settings``; USB models are looked up on ``usb_backend``."""
    return model_factory(SCANNER_MODELS, "fingerprint scanner", model)(settings, usb_backend)
