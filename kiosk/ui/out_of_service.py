"""Out of service: shown instead of the welcome screen while a required device fails.

Calm and plain for the citizen (nothing they did, nothing they can do but ask the officer); which
devices do not work, in smaller type, for the officer.  The officer's and technician's doors are
the welcome screen's (:class:`kiosk.ui.widgets.StaffDoorsScreen`).  The screen goes by itself:
the app shows the welcome screen again once the device watch finds every required device working
(:meth:`kiosk.ui.app.KioskApp.devices_checked`).
"""

from __future__ import annotations

from typing import Any

from kivy.properties import ListProperty

from kiosk.i18n import _
from kiosk.ui.widgets import StaffDoorsScreen
from station.diagnostics import KIND_LABELS, DeviceReport


class OutOfServiceScreen(StaffDoorsScreen):
    failing = ListProperty([])
    """The message ids of the kinds of required device that fail (translated in :meth:`devices_text`)."""

    def on_pre_enter(self, *_args: Any) -> None:
        self.show(self.app.watch.failing)

    def show(self, reports: list[DeviceReport]) -> None:
        self.failing = [KIND_LABELS[report.kind] for report in reports]

    def devices_text(self, failing: list[str], _language: str) -> str:
        """What does not work, for the officer (``_language`` only ties the ``.kv`` rule to ``app.lang``)."""
        if not failing:
            return ""
        return _("Not working: {devices}.").format(devices=", ".join(_(kind) for kind in failing))
