"""The watch over the station's required devices: while one fails, citizens cannot start.

Each configured device says whether it is ``required`` (``[devices.*] required``, true unless the
file says otherwise).  The watch self-tests the configured devices in a worker
(:meth:`station.services.StationServices.check_devices`, the technician's diagnosis without its
search for other devices) and keeps the required ones that fail (:attr:`DeviceWatch.failing`);
the app shows the "out of service" screen instead of the welcome screen while there are any, and
the welcome screen again once a check finds them all working.  A device that is not required
never blocks: its step copes without it, as it always did.

When it checks: when the kiosk starts, on return from the technician's screen (who has just
repaired or replaced something), after a device failed during an enrolment, and periodically while
the station is idle, often while out of service (to come back by itself) and seldom in service (a
self-test turns the camera's light on; and the enrolment's own steps report a device that fails).
Never during an enrolment or on the officer's or technician's screen, where the devices are in
use.  A citizen who touches Start while a check runs waits for its verdict (:meth:`then`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock

from station.diagnostics import DeviceReport

log = logging.getLogger(__name__)

IN_SERVICE_EVERY_S = 300.0
OUT_OF_SERVICE_EVERY_S = 10.0
IDLE_SCREENS = ("welcome", "out_of_service")
"""The screens on which the devices are not in use, so may be self-tested."""


class DeviceWatch:
    """Whether the required devices work, by the last check, and when to check again."""

    def __init__(self, app: Any, *, in_service_every_s: float = IN_SERVICE_EVERY_S,
                 out_of_service_every_s: float = OUT_OF_SERVICE_EVERY_S) -> None:
        self._app = app
        self.in_service_every_s = in_service_every_s
        self.out_of_service_every_s = out_of_service_every_s
        self.failing: list[DeviceReport] = []
        """The required devices that failed the last check (none before the first one)."""
        self._checking = False
        self._due = False
        self._waiting: list[Callable[[], None]] = []
        self._next: Any = None

    @property
    def in_service(self) -> bool:
        return not self.failing

    @property
    def checking(self) -> bool:
        return self._checking

    def check(self) -> None:
        """Self-test the configured devices now, in a worker (nothing when a check runs already)."""
        if self._checking:
            return
        self._checking = True
        self._due = False
        self.stop()
        services = self._app.services  # the work holds the services only
        self._app.jobs.start("device-check", lambda _cancel: services.check_devices(), self._checked,
                             self._check_failed, citizen=False)

    def check_when_idle(self) -> None:
        """A device failed during an enrolment: check them all when the station is next idle."""
        self._due = True

    def shown(self, name: str, left: str) -> None:
        """The app showed screen ``name`` after ``left``: check now if a check is due there."""
        if name in IDLE_SCREENS and (self._due or left == "technician"):
            self.check()

    def then(self, action: Callable[[], None]) -> None:
        """Run ``action`` once no check runs: at once, or after the verdict of the one running (which may
        be that the station is out of service: ``action`` must look again whether it still applies)."""
        if self._checking:
            self._waiting.append(action)
        else:
            action()

    def stop(self) -> None:
        """No periodic check until the next :meth:`check` (the app stopping, or a check starting)."""
        if self._next is not None:
            self._next.cancel()
            self._next = None

    def _checked(self, reports: list[DeviceReport]) -> None:
        failing = [report for report in reports if report.blocks_station]
        if [r.kind for r in failing] != [r.kind for r in self.failing]:
            for report in failing:
                log.warning("out of service: the required %s %s is %s: %s (technician: %s)", report.kind,
                            report.model, report.status, report.problem, report.hint)
            if not failing:
                log.info("every required device works: in service")
        self.failing = failing
        self._done()

    def _check_failed(self, error: BaseException) -> None:
        """The check itself broke (a bug, not a device): logged, the last verdict kept, checked again later."""
        log.error("the device check failed; the last verdict stands", exc_info=error)
        self._done()

    def _done(self) -> None:
        self._checking = False
        self._app.devices_checked()
        every = self.in_service_every_s if self.in_service else self.out_of_service_every_s
        self._next = Clock.schedule_once(lambda _dt: self._periodic(), every)
        waiting, self._waiting = self._waiting, []
        for action in waiting:
            action()

    def _periodic(self) -> None:
        self._next = None
        if self._app.root.current in IDLE_SCREENS:
            self.check()
        else:  # in use: looked at again when the station is next idle
            self._due = True
