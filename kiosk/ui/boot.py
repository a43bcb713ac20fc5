"""The kiosk process's own settings: the C allocator's and the garbage collector's, made first,
and Kivy's, made before any Kivy window module is imported.

``enrol kiosk`` calls :func:`tune_malloc` and :func:`hold_gc` before it starts anything (the
simulators' threads, the services' threads), because glibc applies an arena limit only to threads
that allocate after it, and :func:`release_gc` once the app has started.  Kivy reads its
configuration when ``kivy.core.window`` is first imported (and creates the window then), so the
command and the tests call :func:`prepare` next and import :mod:`kiosk.ui.app` after.  Kivy's own
argument parsing and console log are switched off: the kiosk has its own command line and its own
logging (``station.logs``).
"""

from __future__ import annotations

import ctypes
import gc
import os
from pathlib import Path
from typing import Any

WINDOW_SIZE = (1280, 800)
"""The reference kiosk screen (10.1" 1280 x 800 panels are the common kiosk size)."""

MALLOC_SETTINGS = {"MALLOC_ARENA_MAX": (-8, 2), "MALLOC_MMAP_THRESHOLD_": (-3, 2 * 1024 * 1024)}
"""glibc ``mallopt`` parameters (``M_ARENA_MAX``, ``M_MMAP_THRESHOLD`` of ``<malloc.h>``) by the name of
the environment variable that sets the same, with the kiosk's value; see :func:`tune_malloc`."""


def tune_malloc() -> None:
    """Make glibc's allocator keep less of the kiosk's freed memory resident.

    The kiosk allocates images in many threads: 2.7 MB camera frames 30 times a second, their grey
    copies and analysis temporaries, finger images and their quality and FFT arrays.  With glibc's
    defaults each thread that allocates gets an arena of its own (up to eight per core), and the
    size above which a buffer is mapped on its own, and unmapped when freed, rises to the largest
    buffer freed so far (up to 32 MiB), the size of free memory kept at the top of an arena with it:
    freed images stay resident in arenas, behind the small objects allocated between them.

    Measured with bench/kiosk_figures.py after a ten-finger enrolment: 442 MiB resident with the
    defaults, 415 with two arenas, 373 with two arenas and a fixed 2 MiB threshold (fixed, it no
    longer rises, and an arena's free top is given back from 128 KiB on).  The price of the
    threshold is CPU: big temporaries (the finger code's 10 MB arrays) come as fresh pages each
    time, about 2 s more of the station's own processing over an enrolment (6 s -> 8 s, in worker
    threads; the preview is not slowed).  2 MiB is just under a camera frame and above the finger
    code's most frequent arrays (2.0 MB).  A setting named in the environment (an administrator's
    ``MALLOC_ARENA_MAX=...``) is left as it is; without glibc nothing is done.
    """
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    for variable, (parameter, value) in MALLOC_SETTINGS.items():
        if variable not in os.environ:
            mallopt(parameter, value)


def give_back_free_memory() -> None:
    """Return the allocator's free pages to the system (glibc ``malloc_trim``), when a job that
    allocated much has ended (a card read, the ten prints, the sealing) and after a wipe.

    The arenas keep freed pages below their top resident until then: 10-20 MiB after the ten
    prints and again after the sealing (bench/kiosk_figures.py).  It takes 1-3 ms on the worker
    thread that ends; without glibc nothing is done.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


def give_back_garbage() -> None:
    """Collect what became garbage in reference cycles (a dropped screen: widgets and their bindings
    refer to each other), then give the free pages back (:func:`give_back_free_memory`).

    After :func:`release_gc` the collection walks only what was made since the start (about 30 ms
    after an enrolment); a dropped screen's textures are freed with its widgets.
    """
    gc.collect()
    give_back_free_memory()


def _libc_function(name: str) -> Any:
    try:
        return getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):  # not glibc (musl, another platform)
        return None


_malloc_trim = _libc_function("malloc_trim")


def hold_gc() -> None:
    """Keep Python's cyclic garbage collector off while the kiosk starts (until :func:`release_gc`).

    The start creates some 400 000 objects that live as long as the process (modules, every
    screen's widgets and bindings), and each full collection on the way walks all of them: half of
    the time spent building the screens (0.45 of 0.85 s) went to the collector, finding nothing.
    """
    gc.disable()


def release_gc() -> None:
    """The app has started: put what exists now out of the collector's way (``gc.freeze``) and switch
    it on again.  A full collection otherwise took about 200 ms walking those long-lived objects,
    on whichever thread triggered it, the UI thread's preview included; now it walks only what was
    made since.  The start leaves almost no garbage behind (the resident size is the same with a
    collection first), so none is run here: it would hold the first screen up as long.
    """
    gc.freeze()
    gc.enable()


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
