"""Receipt: the one enrolment number (shown, printed, and all that its QR code holds), the date and
station, and what happens next (when and where to collect the card); printed on the ESC/POS printer
when one is configured (in a job), otherwise the citizen reads it off the screen.  Once it shows, the
enrolment is marked handed over (:meth:`station.outbox.store.Outbox.hand_over`): one sealed while
nothing showed (the station stopped in between) is listed on the officer's screen instead."""

from __future__ import annotations

import io
import logging
from typing import Any

import qrcode
from kivy.core.image import Image as CoreImage
from kivy.properties import StringProperty

from kiosk.i18n import N_, _
from kiosk.slip import collection_notice, render_slip, slip_lines
from kiosk.ui.widgets import KioskScreen

log = logging.getLogger(__name__)

PRINTING = N_("Printing your receipt...")
PRINTED = N_("Your receipt has been printed. Please take it.")
NO_PRINTER = N_("Please write down your enrolment number or photograph this screen.")
PRINT_FAILED = N_("The receipt could not be printed. Please write down your enrolment number.")


class ReceiptScreen(KioskScreen):
    status = StringProperty("")
    collection = StringProperty("")
    """When and where to collect the card, in the language shown."""

    def on_kv_post(self, _base: Any) -> None:
        self._status_id = ""

    def on_pre_enter(self, *_args: Any) -> None:
        self.app.bind(lang=self._fill)
        receipt = self.app.session.receipt
        if receipt is None:
            return
        self._status_id = PRINTING
        self._fill()
        self.ids.qr.texture = _qr_texture(receipt.enrolment_number)
        collection = self.collection  # the slip is printed in the language shown as it started

        def print_slip(_cancel: Any) -> bool:
            return self.app.services.print_slip(render_slip(receipt, collection), receipt.enrolment_number)

        self.app.jobs.start("print", print_slip, self._printed, self._print_failed)
        services, packet_id = self.app.services, receipt.packet_id  # the work holds no screen
        self.app.jobs.start("hand-over", lambda _cancel: services.hand_over(packet_id), None, _not_handed_over,
                            citizen=False)

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._fill)

    def clear(self) -> None:
        self.ids.number.text = self.ids.details.text = ""
        self.ids.qr.texture = None
        self._status_id = ""
        self.status = self.collection = ""

    def _fill(self, *_args: Any) -> None:
        receipt = self.app.session.receipt
        if receipt is None:
            return
        self.ids.number.text = receipt.enrolment_number
        self.ids.details.text = "\n".join(f"{label}: {value}" for label, value in slip_lines(receipt)[1:])
        self.collection = collection_notice(self.app.services.config.kiosk, self.app.lang)
        self.status = _(self._status_id) if self._status_id else ""

    def _printed(self, printed: bool) -> None:
        self._status_id = PRINTED if printed else NO_PRINTER
        self._fill()

    def _print_failed(self, error: BaseException) -> None:
        log.warning("the receipt could not be printed", exc_info=error)
        self._status_id = PRINT_FAILED
        self._fill()

    def finish(self) -> None:
        self.app.finish()


def _not_handed_over(error: BaseException) -> None:
    """The mark could not be written (the disk): the enrolment stays listed for the officer, harmlessly."""
    log.warning("the receipt was shown but could not be marked handed over", exc_info=error)


def _qr_texture(text: str) -> Any:
    image = qrcode.make(text, box_size=8, border=2)
    data = io.BytesIO()
    image.save(data, format="PNG")
    data.seek(0)
    texture = CoreImage(data, ext="png").texture
    texture.mag_filter = "nearest"  # keep the modules sharp when scaled up
    return texture
