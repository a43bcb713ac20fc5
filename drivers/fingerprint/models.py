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


class SettingsError(ValueError):
    """A scanner's settings are missing, unknown or of the wrong type; the message names the key."""


def _r30x(settings: Mapping[str, Any], usb_backend: usb.backend.IBackend | None) -> FingerprintScanner:
    _check(settings, "r30x", required={"port"}, optional={"baudrate", "max_baudrate", "address", "password",
                                                         "timeout", "ppi"})
    return r30x.R30xScanner(**settings)


def _nb1010(settings: Mapping[str, Any], usb_backend: usb.backend.IBackend | None) -> FingerprintScanner:
    _check(settings, "nb1010", required=set(), optional={"timeout_ms"})
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
    try:
        factory = SCANNER_MODELS[model]
    except KeyError:
        raise SettingsError(
            f"unknown fingerprint scanner model {model!r}; known: {', '.join(sorted(SCANNER_MODELS))}"
        ) from None
    return factory(settings, usb_backend)


def _check(settings: Mapping[str, Any], model: str, *, required: set[str], optional: set[str]) -> None:
    missing = sorted(required - set(settings))
    if missing:
        raise SettingsError(f"fingerprint scanner {model!r} needs the setting(s) {', '.join(missing)}")
    unknown = sorted(set(settings) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional))
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)} for scanner {model!r}; allowed: {allowed}")
