"""Review: everything that will be sent — the photo, the fingers with their quality, the data —
with a way back to each part."""

from __future__ import annotations

import io
from typing import Any

from kivy.core.image import Image as CoreImage

from capture.finger.positions import FingerPosition
from kiosk.i18n import _, pgettext
from kiosk.session import FIELDS, SessionError, Step
from kiosk.ui.widgets import KioskScreen, finger_states


class ReviewScreen(KioskScreen):
    def on_pre_enter(self, *_args: Any) -> None:
        self.app.bind(lang=self._fill)
        self._fill()

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._fill)

    def clear(self) -> None:
        self.ids.photo.texture = None
        self.ids.data.text = ""
        self.ids.hands.states = {}
        self.ids.message.text = ""

    def _fill(self, *_args: Any) -> None:
        session = self.app.session
        if session.face is not None:
            self.ids.photo.texture = CoreImage(io.BytesIO(session.face.token_jpeg), ext="jpg").texture
        changed = set(session.changed_from_chip)
        lines = []
        for spec in FIELDS:
            value = session.values.get(spec.name, "")
            if not value:
                continue
            flag = "  [" + _("changed from the chip") + "]" if spec.name in changed else ""
            lines.append(f"[b]{_(spec.label)}:[/b] {_escape(value)}{flag}")
        self.ids.data.text = "\n".join(lines)
        samples, exceptions = session.fingers.samples, session.fingers.exceptions
        states = finger_states(session.fingers)
        states.update({position: ("unused", "") for position in FingerPosition if position not in states})
        self.ids.hands.states = states
        notes = []
        if session.face is not None and session.face.manual:
            notes.append(_("The photo was taken by the officer."))
        forced = [p for p, s in samples.items() if s.forced]
        if forced:
            notes.append(_("Low-quality fingers kept: {count}").format(count=len(forced)))
        if exceptions:
            fingers = ", ".join(f"{_(p.label)} ({pgettext('finger', e.reason.label)})" for p, e in exceptions.items())
            notes.append(_("Fingers that cannot be taken: {fingers}").format(fingers=fingers))
        self.ids.notes.text = "\n".join(notes)

    def edit_data(self) -> None:
        while self.app.session.step > Step.PERSONAL_DATA:
            self.app.session.back()
        self.app.show_step()

    def retake_photo(self) -> None:
        self.app.session.retake_face()
        self.app.show_step()

    def retake_fingers(self) -> None:
        self.app.session.back()
        self.app.show_step()

    def confirm(self) -> None:
        try:
            self.app.session.confirm_review()
        except SessionError as error:
            self.ids.message.text = _(error.message)
            return
        self.app.show_step()


def _escape(text: str) -> str:
    """Kivy markup escaping for values typed by people."""
    return text.replace("&", "&amp;").replace("[", "&bl;").replace("]", "&br;")
