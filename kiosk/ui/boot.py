"""Kivy's process-wide settings, made before any Kivy window module is imported.

Kivy reads its configuration when ``kivy.core.window`` is first imported (and creates the window
then), so the command and the tests call :func:`prepare` first and import :mod:`kiosk.ui.app`
after.  Kivy's own argument parsing and console log are switched off: the kiosk has its own
command line and its own logging (``station.logs``).
"""

from __future__ import annotations

import os
from pathlib import Path

WINDOW_SIZE = (1280, 800)
"""The reference kiosk screen (10.1" 1280 x 800 panels are the common kiosk size)."""


def prepare(*, fullscreen: bool = False, kivy_home: Path | None = None) -> None:
    """Set Kivy's environment and configuration for the kiosk (idempotent; before importing ``kiosk.ui.app``)."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # Kivy logs through the station's handlers (station.logs)
    if kivy_home is not None:
        os.environ.setdefault("KIVY_HOME", str(kivy_home))
    from kivy.config import Config

    Config.set("graphics", "width", str(WINDOW_SIZE[0]))
    Config.set("graphics", "height", str(WINDOW_SIZE[1]))
    Config.set("graphics", "resizable", "0")
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("kivy", "exit_on_escape", "0")
    # A kiosk has a touchscreen and no mouse: no red multitouch-emulation dots on right clicks.
    Config.set("input", "mouse", "mouse,disable_multitouch")
