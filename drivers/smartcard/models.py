"""Card reader models chosen by name, as drivers/fingerprint/models.py does for scanners.

``[devices.card_reader] model = "ccid"`` drives a USB CCID reader directly (pcscd must then not be
holding it); ``model = "pcsc"`` goes through pcscd, the usual way on Linux, which works with any
reader pcscd has a driver for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import usb.backend

from drivers.settings import check_settings, model_factory
from drivers.smartcard import ccid, pcsc
from drivers.smartcard.base import CardReader


def _ccid(settings: Mapping[str, Any], usb_backend: usb.backend.IBackend | None) -> CardReader:
    check_settings(settings, "card reader 'ccid'",
                   optional={"vendor_id", "product_id", "slot", "timeout_ms", "card_timeout_s"})
    device = ccid.find(usb_backend, vendor_id=settings.get("vendor_id"), product_id=settings.get("product_id"))
    options = {k: v for k, v in settings.items() if k in ("slot", "timeout_ms", "card_timeout_s")}
    return ccid.CcidReader(device, **options)


def _pcsc(settings: Mapping[str, Any], usb_backend: usb.backend.IBackend | None) -> CardReader:
    check_settings(settings, "card reader 'pcsc'", optional={"reader", "extended"})
    return pcsc.PcscReader(settings.get("reader", ""), extended=settings.get("extended"))


#: model name -> factory(settings, usb_backend)
READER_MODELS: dict[str, Callable[[Mapping[str, Any], usb.backend.IBackend | None], CardReader]] = {
    "ccid": _ccid,
    "pcsc": _pcsc,
}


def create_reader(model: str, settings: Mapping[str, Any], *,
                  usb_backend: usb.backend.IBackend | None = None) -> CardReader:
    """An unopened driver for ``model`` with ``settings``; USB readers are looked up on ``usb_backend``."""
    return model_factory(READER_MODELS, "card reader", model)(settings, usb_backend)
