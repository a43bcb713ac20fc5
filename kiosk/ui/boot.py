"""The kiosk process's own settings: the C allocator's, made first, and Kivy's, made before any
Kivy window module is imported.

``enrol kiosk`` calls :func:`tune_malloc` before it starts anything (the simulators' threads, the
services' threads), because glibc applies an arena limit only to threads that allocate after it.
Kivy reads its configuration when ``kivy.core.window`` is first imported (and creates the window
then), so the command and the tests call :func:`prepare` next and import :mod:`kiosk.ui.app`
after.  Kivy's own argument parsing and console log are switched off: the kiosk has its own
command line and its own logging (``station.logs``).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

WINDOW_SIZE = (1280, 800)
"""The reference kiosk screen (10.1" 1280 x 800 panels are the common kiosk size)."""

MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": (-8, 2), "MALLOC_MMAP_THRESHOLD_": (-3, 1024 * 1024)}
"""glibc ``mallopt`` parameters (``M_ARENA_MAX``, ``M_MMAP_THRESHOLD`` of ``<malloc.h>``) by the name of
the environment variable that sets the same, with the kiosk's value; see :func:`tune_malloc`."""


def tune_malloc() -> None:
    """Make glibc's allocator hand the kiosk's large, short-lived buffers back to the system.

    The kiosk allocates images in many threads: 2.7 MB camera frames 30 times a second, their grey
    copies and analysis temporaries, finger images and their quality maps.  With glibc's defaults
    each thread that allocates gets an arena of its own (up to eight per core), and the size above
    which a buffer is mapped on its own, and unmapped when freed, rises to the largest buffer freed
    so far (up to 32 MiB): after the first frames every image is carved out of an arena, whose freed
    pages stay resident behind the small objects allocated between them.  So: two arenas, and a
    fixed 1 MiB threshold (fixed, it no longer rises), so that every camera frame is mapped and
    unmapped.  After a ten-finger enrolment the kiosk keeps about 50 MiB less resident
    (bench/kiosk_figures.py), for a page fault per 4 KiB of each new frame (well under a
    millisecond).  A lower threshold saved no more and made the finger code's many 0.1-1 MiB
    temporaries fault too (40 % more CPU per finger at 256 KiB).  A setting named in the environment
    (an administrator's ``MALLOC_ARENA_MAX=...``) is left as it is; without glibc nothing is done.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, another platform)
        return
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    for variable, (parameter, value) in MALLOC_SETTINGS.items():
        if variable not in os.environ:
            mallopt(parameter, value)


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
    # No multisample anti-aliasing (Kivy asks for 2 samples by default).  Under software OpenGL
    # (llvmpipe: Xvfb, a station without a GPU driver) it made every frame cost 2-3 times the CPU (an
    # empty 1280 x 800 frame 18 ms instead of 1 ms, a full-window picture 32 ms instead of 11) and
    # its buffers kept 48 MiB resident.  The kiosk draws text, anti-aliased in its own texture, and
    # rectangles (rounded corners come out a little harder); the face screen's oval guide is a
    # SmoothLine, smooth without it.
    Config.set("graphics", "multisamples", "0")
    Config.set("kivy", "exit_on_escape", "0")
    # A kiosk has a touchscreen and no mouse: no red multitouch-emulation dots on right clicks.
    Config.set("input", "mouse", "mouse,disable_multitouch")
