"""Identify: the details BAC needs to open the chip (ID number, birth date, expiry), typed on the
numeric pad; or, for a citizen without a chip card, the 12-digit ID number typed by the officer."""

from __future__ import annotations

import logging
from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty

from capture.document.identity import IdentityDocument
from drivers.errors import Cancelled, DeviceError, ExplainedError
from drivers.smartcard.base import CardRemoved, NoCard
from kiosk.i18n import N_, _
from kiosk.session import CardAccess, SessionError
from kiosk.ui.widgets import KioskScreen, digits_edit
from station.services import CardStage

CHIP_FIELDS = ("personal_id", "birth_date", "expiry_date")
DATE_FIELDS = ("birth_date", "expiry_date")
UNREADABLE = N_("The card could not be read. Please try again.")
PLACE_CARD = N_("Place your card flat on the reader, as in the picture, and leave it there.")
READING = N_("Reading the card. Please keep it on the reader.")

log = logging.getLogger(__name__)


class IdentifyScreen(KioskScreen):
    waiting_for_card = BooleanProperty(False)
    """The reader has no card yet: the picture of where to put it is highlighted."""

    def on_kv_post(self, _base: Any) -> None:
        self.manual = False
        self.selected = "personal_id"

    def on_pre_enter(self, *_args: Any) -> None:
        self._show()

    def clear(self) -> None:
        for name in CHIP_FIELDS:
            self.ids[name].value = ""
        self.manual = False
        self.selected = "personal_id"
        self.waiting_for_card = False
        self.say("")
        self.ids.read.disabled = False  # a read that was under way when the session was wiped never ends here
        self._show()

    def set_manual(self, manual: bool) -> None:
        """Typing the ID without a chip card is the officer's decision: it asks for their PIN."""
        if manual and not self.app.session.officer:
            self._show()  # the toggle stays on "chip card" until the PIN is right
            self.app.officer_action(lambda: self.set_manual(True))
            return
        self.manual = manual
        self.selected = "personal_id"
        self.say("")
        self._show()

    def select(self, name: str) -> None:
        self.selected = name
        self._show()

    def key(self, key: str) -> None:
        box = self.ids[self.selected]
        box.value = digits_edit(box.value, key, date=self.selected in DATE_FIELDS)
        if key.isdigit() and len(box.value) == (10 if self.selected in DATE_FIELDS else 12):
            fields = ("personal_id",) if self.manual else CHIP_FIELDS
            following = fields[(fields.index(self.selected) + 1) % len(fields)]
            self.selected = following if not self.ids[following].value else self.selected
        self._show()

    def _show(self) -> None:
        for name in CHIP_FIELDS:
            box = self.ids[name]
            box.selected = name == self.selected
            shown = name == "personal_id" or not self.manual
            box.opacity = 1 if shown else 0
            box.disabled = not shown
        self.ids.chip_mode.state = "normal" if self.manual else "down"
        self.ids.manual_mode.state = "down" if self.manual else "normal"

    def submit(self) -> None:
        self.say("")
        session = self.app.session
        if self.manual:
            try:
                session.enter_manually(self.ids.personal_id.value)
            except SessionError as error:
                self.say(_(error.message))
                return
            self.app.show_step()
            return
        access = CardAccess(self.ids.personal_id.value, self.ids.birth_date.value, self.ids.expiry_date.value)
        self._stage(CardStage.READING)
        self.ids.read.disabled = True
        self.app.jobs.start("read-card", lambda _cancel: session.read_card(access, self._staged), self._read,
                            self._failed)

    def _staged(self, stage: CardStage) -> None:
        """From the reading job: post where it is to the UI thread."""
        Clock.schedule_once(lambda _dt: self._stage(stage), 0)

    def _stage(self, stage: CardStage) -> None:
        if not self.ids.read.disabled and stage is CardStage.WAITING:
            return  # the read ended before this news arrived
        self.waiting_for_card = stage is CardStage.WAITING
        self.say(_(PLACE_CARD if self.waiting_for_card else READING), "info")

    def back(self) -> None:
        """Leave: the wipe cancels a card read in progress (the session's cancel event)."""
        self.app.finish()

    def _read(self, document: IdentityDocument) -> None:
        self.ids.read.disabled = False
        self.waiting_for_card = False
        self.say("")
        self.app.show_step()

    def _failed(self, error: BaseException) -> None:
        self.ids.read.disabled = False
        self.waiting_for_card = False
        if isinstance(error, Cancelled):
            self.say("")
            return
        if isinstance(error, SessionError):
            self.say(_(error.message))
            return
        if isinstance(error, NoCard | CardRemoved) or not isinstance(error, DeviceError):
            # Wrong details (BAC refused), a card moved away, a chip that answers oddly: the citizen can fix it.
            self.app.session.clear_fault()
            if isinstance(error, ExplainedError):
                self.say(_(error.citizen_message))
            else:
                log.warning("reading the card failed unexpectedly", exc_info=error)
                self.say(_(UNREADABLE))
            return
        self.app.fail(error, "identify")
