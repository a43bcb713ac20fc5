"""Receipt: the enrolment number, date, station and a QR code of the packet id; printed on the
ESC/POS printer when one is configured (in a job), otherwise the citizen reads it off the screen."""

from __future__ import annotations

import io
from typing import Any

import qrcode
from kivy.core.image import Image as CoreImage
from kivy.properties import StringProperty

from kiosk.i18n import N_, _
from kiosk.slip import render_slip, slip_lines
from kiosk.ui.widgets import KioskScreen

PRINTING = N_("Printing your receipt...")
PRINTED = N_("Your receipt has been printed. Please take it.")
NO_PRINTER = N_("Please write down your enrolment number or photograph this screen.")
PRINT_FAILED = N_("The receipt could not be printed. Please write down your enrolment number.")


class ReceiptScreen(KioskScreen):
    status = StringProperty("")

    def on_kv_post(self, _base: Any) -> None:
        self._status_id = ""

    def on_pre_enter(self, *_args: Any) -> None:
        self.app.bind(lang=self._fill)
        receipt = self.app.session.receipt
        if receipt is None:
            return
        self._status_id = PRINTING
        self._fill()
        self.ids.qr.texture = _qr_texture(receipt.packet_id)
        self.app.jobs.start("print", lambda _cancel: self.app.services.print_slip(render_slip(receipt),
                                                                                  receipt.packet_id),
                            self._printed, self._print_failed)

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._fill)

    def clear(self) -> None:
        self.ids.number.text = self.ids.details.text = ""
        self.ids.qr.texture = None
        self._status_id = ""
        self.status = ""

    def _fill(self, *_args: Any) -> None:
        receipt = self.app.session.receipt
        if receipt is None:
            return
        self.ids.number.text = receipt.enrolment_number
        self.ids.details.text = "\n".join(f"{label}: {value}" for label, value in slip_lines(receipt)[1:3])
        self.status = _(self._status_id) if self._status_id else ""

    def _printed(self, printed: bool) -> None:
        self._status_id = PRINTED if printed else NO_PRINTER
        self._fill()

    def _print_failed(self, _error: BaseException) -> None:
        self._status_id = PRINT_FAILED
        self._fill()

    def finish(self) -> None:
        self.app.finish()


def _qr_texture(text: str) -> Any:
    image = qrcode.make(text, box_size=8, border=2)
    data = io.BytesIO()
    image.save(data, format="PNG")
    data.seek(0)
    texture = CoreImage(data, ext="png").texture
    texture.mag_filter = "nearest"  # keep the modules sharp when scaled up
    return texture
