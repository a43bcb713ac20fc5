"""Printer models chosen by name, as drivers/fingerprint/models.py does for scanners.

``[devices.printer] model = "escpos"`` with ``port`` (+ ``baudrate``) for a serial printer, or
``vendor_id`` + ``product_id`` for a USB one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, model_validator
from pydantic.dataclasses import dataclass

from drivers.settings import STRICT, DeviceModel, make_driver, one_of

if TYPE_CHECKING:
    from drivers.printer.escpos import EscPosPrinter

SERIAL_BAUDRATES = (2400, 4800, 9600, 19200, 38400, 57600, 115200)
"""The line speeds receipt printers offer on their serial port (their DIP switches' choices)."""
UsbId = Annotated[int, Field(ge=0, le=0xFFFF)]


@dataclass(frozen=True, config=STRICT)
class EscPosSettings:
    port: Annotated[str, Field(min_length=1)] | None = None
    baudrate: Annotated[int, one_of(SERIAL_BAUDRATES, "a receipt printer's serial speed")] | None = None
    vendor_id: UsbId | None = None
    product_id: UsbId | None = None
    timeout: Annotated[float, Field(gt=0, le=60)] | None = None
    width_dots: Annotated[int, Field(ge=96, le=2048)] | None = None
    """384 on a 58 mm printer at 203 dpi, 576 on an 80 mm one."""

    @model_validator(mode="after")
    def _one_connection(self) -> EscPosSettings:
        usb = self.vendor_id is not None or self.product_id is not None
        if (self.port is not None) == usb:
            raise ValueError("an ESC/POS printer is either on a serial port (port) or on USB (vendor_id and "
                             "product_id)")
        if usb and (self.vendor_id is None or self.product_id is None):
            raise ValueError("a USB printer needs both vendor_id and product_id")
        return self


def _escpos(**settings: Any) -> EscPosPrinter:
    # Imported when a printer is made, not with this module: python-escpos brings qrcode, barcode,
    # PyYAML and pyusb's printer classes, 0.2 s and 10 MiB at the start of every station process,
    # while a receipt is printed only at the end of an enrolment.
    from drivers.printer.escpos import EscPosPrinter

    return EscPosPrinter(**settings)


PRINTER_MODELS: dict[str, DeviceModel[EscPosPrinter]] = {"escpos": DeviceModel(EscPosSettings, _escpos)}


def create_printer(model: str, settings: Mapping[str, Any]) -> EscPosPrinter:
    """An unopened driver for ``model`` with ``settings``."""
    return make_driver(PRINTER_MODELS, "printer", model, settings)
