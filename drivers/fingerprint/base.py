"""The one interface every fingerprint scanner driver implements, and the state-machine runner
the drivers share."""

from __future__ import annotations

import abc
import enum
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np

from drivers.device import Device, DeviceInfo
from drivers.errors import Cancelled, DeviceTimeout

log = logging.getLogger(__name__)

State = TypeVar("State", bound=enum.Enum)
Data = TypeVar("Data")


@dataclass(frozen=True)
class FingerImage:
    """One raw image as the scanner delivered it: 2-D uint8 ``pixels`` (dark ridges on light), its
    resolution, the device that took it and when (UTC)."""

    pixels: np.ndarray
    ppi: int
    device: DeviceInfo
    captured_at: datetime


class FingerprintScanner(Device):
    """A fingerprint scanner.  Use as a context manager: ``with Scanner(...) as scanner: ...``.

    Subclasses implement :meth:`open`, :meth:`close`, :meth:`info`, :meth:`finger_present`,
    :meth:`capture` and :meth:`self_test`; waiting for a finger is common to all of them.
    """

    #: How often :meth:`wait_for_finger` asks the sensor (libfprint's NB-1010 driver uses 50 ms).
    poll_interval_s: float = 0.05

    @abc.abstractmethod
    def finger_present(self) -> bool:
        """Ask the sensor once whether a finger lies on it."""

    @abc.abstractmethod
    def capture(self, cancel: threading.Event | None = None) -> FingerImage:
        """Take one image of the finger on the sensor and transfer it.

        Raises :class:`Cancelled` if ``cancel`` is set (from any thread) before the image is
        complete; each driver documents how promptly, and what state it leaves the device in.
        """

    def wait_for_finger(self, timeout: float, cancel: threading.Event | None = None) -> None:
        """Return once a finger is on the sensor.

        Raises :class:`Cancelled` within one poll interval of ``cancel`` being set (from any
        thread), and :class:`DeviceTimeout` after ``timeout`` seconds without a finger.
        """
        cancel = cancel or threading.Event()
        deadline = time.monotonic() + timeout
        while True:
            if cancel.is_set():
                raise Cancelled("waiting for a finger was cancelled")
            if self.finger_present():
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeout(f"no finger placed within {timeout:g} s", device=self.info().model)
            cancel.wait(min(self.poll_interval_s, remaining))


def run_state_machine(
    name: str,
    device: str,
    transitions: Mapping[State, Callable[[Data], State]],
    data: Data,
    *,
    start: State,
    final: State,
    cancel: threading.Event | None,
    uncancellable: Collection[State] = (),
) -> None:
    """Run one device operation as an explicit state machine, in the model of libfprint's ``fpi-ssm``.

    An operation is an enum of named states; ``transitions`` maps each state to the one function
    that does that state's I/O and returns the next state; ``data`` is what the states share
    (libfprint's SSM data).  Writing the operation this way keeps its order of I/O readable in
    one table, puts every wait inside a named state, and gives one place to cancel and to log:

    * every state entered is logged at DEBUG as ``[device] name entering state STATE`` (libfprint's
      wording), so a log shows the path an operation took through its fallbacks;
    * before a state is entered (the ``final`` one too), :class:`Cancelled` is raised if ``cancel``
      is set, except on entering a state in ``uncancellable``: states that only run while the
      device is in a condition the operation must get it out of first.  The cancel is then
      honoured on entering the next state not in that set.  Waits *inside* states are the state
      functions' business (they pass ``cancel`` on to their reads).

    Returns on entering ``final``; an exception from a state function ends the machine with it.
    """
    state = start
    while True:
        if cancel is not None and cancel.is_set() and state not in uncancellable:
            raise Cancelled(f"{device}: {name} cancelled before state {state.name}")
        log.debug("[%s] %s entering state %s", device, name, state.name)
        if state is final:
            return
        state = transitions[state](data)
