"""Printer models chosen by name, as drivers/fingerprint/models.py does for scanners.

``[devices.printer] model = "escpos"`` with ``port`` (+ ``baudrate``) for a serial printer, or
``vendor_id`` + ``product_id`` for a USB one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from drivers.settings import SettingsError, check_settings, model_factory

if TYPE_CHECKING:
    from drivers.printer.escpos import EscPosPrinter


def _escpos(settings: Mapping[str, Any]) -> EscPosPrinter:
    # Imported when a printer is made, not with this module: python-escpos brings qrcode, barcode,
    # PyYAML and pyusb's printer classes, 0.2 s and 10 MiB at the start of every station process,
    # while a receipt is printed only at the end of an enrolment.
    from drivers.printer.escpos import EscPosPrinter

    check_settings(settings, "printer 'escpos'",
                   optional={"port", "baudrate", "vendor_id", "product_id", "timeout", "width_dots"})
    try:
        return EscPosPrinter(**settings)
    except (TypeError, ValueError) as error:
        raise SettingsError(f"printer 'escpos': {error}") from None


#: model name -> factory(settings)
PRINTER_MODELS: dict[str, Callable[[Mapping[str, Any]], EscPosPrinter]] = {"escpos": _escpos}


def create_printer(model: str, settings: Mapping[str, Any]) -> EscPosPrinter:
    """An unopened driver for ``model`` with ``settings``."""
    return model_factory(PRINTER_MODELS, "printer", model)(settings)
