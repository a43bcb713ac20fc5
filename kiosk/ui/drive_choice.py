"""Choosing the USB drive an export goes to, the same way on the officer's and the technician's screens.

The station is asked in a job (listing drives reads /proc, /sys and each drive's free space).  No
drive: the screen says so and nothing is written anywhere, above all not onto the station's own
disk.  One drive, the usual case of the stick just inserted: it is used at once.  Several: one
button per drive, and the export goes where the person touches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kivy.factory import Factory

from kiosk.i18n import N_, _
from station.removable import RemovableDrive

log = logging.getLogger(__name__)

LOOKING = N_("Looking for a USB drive...")
NO_DRIVE = N_("No USB drive found. Insert a USB drive and try again.")
CHOOSE = N_("Several USB drives are inserted. Touch the one to use.")
SIMULATED = N_("simulated USB drive")
FREE = N_("{name} ({free} free)")
READ_ONLY = N_("{name} (read-only)")

Say = Callable[[Callable[[], str]], None]
"""How the chooser tells its screen something: a function making the text in the language shown."""


def drive_name(drive: RemovableDrive) -> str:
    """What a person calls the drive: its label, or that it is the simulated station's stand-in."""
    return _(SIMULATED) if drive.simulated else drive.label


def size_text(size: int) -> str:
    """A size as drives are sold: decimal megabytes or gigabytes."""
    return f"{size / 10**9:.1f} GB" if size >= 10**9 else f"{size // 10**6} MB"


class DriveChooser:
    """Finds the drives and hands the chosen one to ``use``; the buttons for a choice go into ``buttons``.

    ``trigger`` (the screen's export button) is disabled while the drives are looked for, so that a
    double tap cannot start two exports; it stays disabled once a drive is handed to ``use``, whose
    export enables it again when it ends.
    """

    def __init__(self, app: Any, buttons: Any, trigger: Any, use: Callable[[RemovableDrive], None],
                 say: Say) -> None:
        self._app = app
        self._buttons = buttons
        self._trigger = trigger
        self._use = use
        self._say = say
        self._offered: list[tuple[Any, RemovableDrive]] = []

    def start(self) -> None:
        """Look for the drives (the person touched "export")."""
        self.clear()
        self._trigger.disabled = True
        self._say(lambda: _(LOOKING))
        self._app.jobs.start("drives", lambda _cancel: self._app.services.removable_drives(), self._found,
                             self._failed)

    def clear(self) -> None:
        self._buttons.clear_widgets()
        self._offered = []
        self._trigger.disabled = False

    def relabel(self) -> None:
        """The language changed: caption the offered drives' buttons anew."""
        for button, drive in self._offered:
            button.text = _caption(drive)

    def _found(self, drives: list[RemovableDrive]) -> None:
        self._trigger.disabled = False
        if not drives:
            self._say(lambda: _(NO_DRIVE))
        elif len(drives) == 1:
            self._chosen(drives[0])
        else:
            self._say(lambda: _(CHOOSE))
            for drive in drives:
                button = Factory.SmallButton(text=_caption(drive))
                button.bind(on_release=lambda _button, chosen=drive: self._chosen(chosen))
                self._buttons.add_widget(button)
                self._offered.append((button, drive))

    def _chosen(self, drive: RemovableDrive) -> None:
        self.clear()
        self._trigger.disabled = True
        self._use(drive)

    def _failed(self, error: BaseException) -> None:
        # Listing the mounts does not fail on a sane system; say "none" rather than nothing at all.
        log.warning("looking for USB drives failed", exc_info=error)
        self._trigger.disabled = False
        self._say(lambda: _(NO_DRIVE))


def _caption(drive: RemovableDrive) -> str:
    if not drive.writable:
        return _(READ_ONLY).format(name=drive_name(drive))
    return _(FREE).format(name=drive_name(drive), free=size_text(drive.free_bytes))
