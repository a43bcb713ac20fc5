"""The citizen's receipt slip: what it says, drawn as the raster image the receipt printer prints.

Why the text is printed as a raster image: thermal printers' character code pages rarely include
Vietnamese (Windows-1258 exists on a few models, under different page numbers), and a receipt
whose name of the office reads "Ðang ky" teaches citizens to distrust it.  Every ESC/POS printer
prints raster graphics (GS v 0), so the text is drawn with a font that has every Vietnamese glyph
(Roboto, shipped with Kivy) at the printer's dot width and sent as an image; the driver
(``drivers.printer.escpos``) adds the QR code and cuts.

The slip has one number, the enrolment number: printed in digits and the whole content of the QR
code, so that what the citizen copies down and what an officer scans are the same thing.  Below it,
what happens next: when and where to collect the card, from ``[kiosk] collection_vi`` /
``collection_en``, or :data:`COLLECTION`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kiosk.i18n import N_, _
from station.config import KioskConfig
from station.services import ReceiptSlip

# Found without importing Kivy, which would take over the process's logging.
FONT = Path(importlib.util.find_spec("kivy").submodule_search_locations[0]) / "data" / "fonts" / "Roboto-Regular.ttf"
BOLD_FONT = FONT.with_name("Roboto-Bold.ttf")
DOTS = 384
"""Printable width of a 58 mm printer at 203 dpi (48 mm); 80 mm printers have 576 but print this centred."""

TITLE = N_("Enrolment receipt")
KEEP = N_("Keep this receipt. Show it when you collect your card.")
NEXT = N_("What happens next")
COLLECTION = N_("Your new card will usually be ready within 7 working days. Collect it at the police office "
                "where you enrolled.")
"""What happens next when ``[kiosk]`` says nothing of it: true of every office, so never wrong, if vague."""


def collection_notice(kiosk: KioskConfig, language: str) -> str:
    """When and where the card can be collected, in ``language``: the office's own text when configured.

    An office that wrote it in one language only gets that text in the other language too, rather
    than the built-in text, which might contradict it (another delay, another office).
    """
    configured = {"vi": kiosk.collection_vi, "en": kiosk.collection_en}
    return configured.get(language) or kiosk.collection_vi or kiosk.collection_en or _(COLLECTION)


def slip_lines(receipt: ReceiptSlip) -> list[tuple[str, str]]:
    """(label, value) lines of the receipt, in the current language: the number first."""
    return [
        (_("Enrolment number"), receipt.enrolment_number),
        (_("Date"), receipt.created_at.astimezone().strftime("%d/%m/%Y %H:%M")),
        (_("Station"), receipt.station_id),
    ]


def render_slip(receipt: ReceiptSlip, collection: str, width: int = DOTS) -> Image.Image:
    """The receipt's text, then ``collection`` (:func:`collection_notice`), as a 1-bit image ``width`` dots wide."""
    title_font = ImageFont.truetype(str(BOLD_FONT), 30)
    label_font = ImageFont.truetype(str(FONT), 20)
    value_font = ImageFont.truetype(str(BOLD_FONT), 24)
    small = ImageFont.truetype(str(FONT), 18)
    rows: list[tuple[str, ImageFont.FreeTypeFont]] = [(_(TITLE), title_font)]
    for label, value in slip_lines(receipt):
        rows += [(label, label_font), *((part, value_font) for part in _wrap(value, value_font, width - 16))]
    rows += [(_(NEXT), value_font), *((part, label_font) for part in _wrap(collection, label_font, width - 16))]
    rows += [(line, small) for line in _wrap(_(KEEP), small, width - 16)]
    height = sum(font.size + 10 for _text, font in rows) + 20
    image = Image.new("1", (width, height), 1)
    draw = ImageDraw.Draw(image)
    y = 10
    for text, font in rows:
        draw.text((8, y), text, font=font, fill=0)
        y += font.size + 10
    return image


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines
