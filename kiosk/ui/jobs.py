"""Worker threads for the kiosk: the UI thread never waits for a device or an analysis.

A job runs ``work(cancel)`` in a daemon thread; its result or its exception reaches the UI thread
through ``Clock.schedule_once`` (thread-safe), where ``done`` / ``failed`` run; a failure with no
``failed`` is raised there, into the app's containment.  Every job has its
own cancel event, and :meth:`Jobs.cancel_all` (a session wipe, the app stopping) sets them all and
starts a new *generation*: results of an older generation are dropped, so a card read that
finishes after the citizen walked away never puts their name on the next citizen's screen.  The
station's own work, which concerns no citizen (the check of its devices, :mod:`kiosk.ui.device_watch`),
is started with ``citizen=False``: its result is delivered across generations, since the watch that
waits for it must hear its end whatever the sessions did meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kivy.clock import Clock

from drivers.errors import Cancelled
from kiosk.ui.boot import give_back_free_memory


class Jobs:
    """The kiosk's running worker threads."""

    def __init__(self) -> None:
        self._generation = 0
        self._running: dict[threading.Thread, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, name: str, work: Callable[[threading.Event], Any], done: Callable[[Any], None] | None = None,
              failed: Callable[[BaseException], None] | None = None, *, citizen: bool = True) -> threading.Event:
        """Run ``work`` in a thread; returns its cancel event.  A ``citizen`` job's result is dropped once
        :meth:`cancel_all` ended its session."""
        cancel = threading.Event()
        generation = self._generation

        def deliver(callback: Callable[[Any], None] | None, value: Any) -> None:
            def on_ui_thread(_dt: float) -> None:
                if (generation == self._generation or not citizen) and callback is not None:
                    callback(value)
            Clock.schedule_once(on_ui_thread, 0)

        def body() -> None:
            try:
                result = work(cancel)
            except BaseException as error:  # every failure goes to the screen, none is lost in a thread
                deliver(failed or _unhandled, error)
            else:
                deliver(done, result)
            finally:
                with self._lock:
                    self._running.pop(threading.current_thread(), None)
                give_back_free_memory()  # a job's temporaries (images, packets) are freed now

        thread = threading.Thread(target=body, name=f"kiosk-{name}", daemon=True)
        with self._lock:
            self._running[thread] = cancel
        thread.start()
        return cancel

    def cancel_all(self) -> None:
        """Cancel every job and drop the results still on their way."""
        self._generation += 1
        with self._lock:
            for cancel in self._running.values():
                cancel.set()

    def join(self, timeout: float = 5.0) -> bool:
        """Wait for every job to end (shutdown, tests); True when all did."""
        with self._lock:
            threads = list(self._running)
        for thread in threads:
            thread.join(timeout)
        return not any(thread.is_alive() for thread in threads)

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._running)


def _unhandled(error: BaseException) -> None:
    """A job without its own ``failed`` failed: raise it on the UI thread, where the app contains it
    (:meth:`kiosk.ui.app.KioskApp.contain`).  A cancelled job is no fault."""
    if not isinstance(error, Cancelled):
        raise error
