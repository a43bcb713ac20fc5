"""Sorry: shown after an unexpected fault in the kiosk itself (a bug, not a device).

The citizen's data was wiped before this screen appears (nothing half-done may stay on a public
screen, and a broken screen cannot be trusted to be completed); the fault and its traceback are in
the station log, and the officer's screen counts them.  The screen returns to the welcome screen by
itself after :data:`RETURN_AFTER_S`, or at once on "Start again".
"""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock

from kiosk.ui.widgets import KioskScreen

RETURN_AFTER_S = 20.0


class SorryScreen(KioskScreen):
    def on_kv_post(self, _base: Any) -> None:
        self._return: Any = None

    def on_enter(self, *_args: Any) -> None:
        self._return = Clock.schedule_once(lambda _dt: self.start_again(), RETURN_AFTER_S)

    def on_leave(self, *_args: Any) -> None:
        if self._return is not None:
            self._return.cancel()
            self._return = None

    def start_again(self) -> None:
        if self.manager is not None and self.manager.current == self.name:
            self.app.go("welcome")
