"""Card reader models chosen by name, as drivers/fingerprint/models.py does for scanners.

``[devices.card_reader] model = "ccid"`` drives a USB CCID reader directly (pcscd must then not be
holding it); ``model = "pcsc"`` goes through pcscd, the usual way on Linux, which works with any
reader pcscd has a driver for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import usb.backend
from pydantic import Field
from pydantic.dataclasses import dataclass

from drivers.settings import STRICT, DeviceModel, make_driver
from drivers.smartcard import ccid, pcsc
from drivers.smartcard.base import CardReader

UsbId = Annotated[int, Field(ge=0, le=0xFFFF)]


@dataclass(frozen=True, config=STRICT)
class CcidSettings:
    vendor_id: UsbId | None = None
    product_id: UsbId | None = None
    slot: Annotated[int, Field(ge=0, le=255)] | None = None
    """bSlot of the CCID messages (CCID 1.1 §6.1): 0 on single-slot readers."""
    timeout_ms: Annotated[int, Field(ge=10, le=600_000)] | None = None
    card_timeout_s: Annotated[float, Field(gt=0, le=600)] | None = None


@dataclass(frozen=True, config=STRICT)
class PcscSettings:
    reader: str | None = None
    """The reader's name as pcscd lists it (a prefix is enough); empty: the first reader."""
    extended: bool | None = None


def _ccid(usb_backend: usb.backend.IBackend | None, *, vendor_id: int | None = None, product_id: int | None = None,
          **options: Any) -> CardReader:
    return ccid.CcidReader(ccid.find(usb_backend, vendor_id=vendor_id, product_id=product_id), **options)


def _pcsc(_usb_backend: usb.backend.IBackend | None, *, reader: str = "", extended: bool | None = None) -> CardReader:
    return pcsc.PcscReader(reader, extended=extended)


READER_MODELS: dict[str, DeviceModel[CardReader]] = {
    "ccid": DeviceModel(CcidSettings, _ccid),
    "pcsc": DeviceModel(PcscSettings, _pcsc),
}


def create_reader(model: str, settings: Mapping[str, Any], *,
                  usb_backend: usb.backend.IBackend | None = None) -> CardReader:
    """An unopened driver for ``model`` with ``settings``; USB readers are looked up on ``usb_backend``."""
    return make_driver(READER_MODELS, "card reader", model, settings, usb_backend)
