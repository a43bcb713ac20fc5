"""Errors that explain themselves to two audiences, and the typed device errors.

:class:`ExplainedError` is the one base of every error a person may be told about (devices, smart
cards, the outbox, the packet format, sealing): it carries a ``citizen_message`` (short, calm,
shown on the kiosk screen) and a ``technician_hint`` (what to check, shown in diagnostics and
logs).  It lives here, in the lowest layer, so that every layer can derive from it; ``crypto``
imports this one module of ``drivers`` and nothing else of ours (docs/decisions.md).  The citizen message is a
gettext message id marked with :func:`N_`; it is translated where it is displayed (kiosk), because
drivers must not depend on the kiosk's language setting.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now (xgettext keyword ``N_``)."""
    return message


class ExplainedError(Exception):
    """An error with a message for the citizen (a gettext id, translated where it is shown) and a hint for
    the technician.  ``detail`` is the technical account (logs, diagnostics); ``str()`` is the same."""

    citizen_message = N_("Something went wrong. Please wait for the officer.")
    officer_hint = N_("Touch Try again. If it happens again, call the technician: the station has recorded "
                      "what happened.")
    """What the officer can do, in plain words (a gettext id): no commands, no file names; those are
    the technician's (``technician_hint``, the log, the technician screen)."""
    technician_hint = "See the station log for the details."

    def __init__(self, detail: str, *, hint: str | None = None) -> None:
        self.detail = detail
        if hint is not None:
            self.technician_hint = hint
        super().__init__(detail)


class DeviceError(ExplainedError):
    """A device could not do what was asked.  Base of every driver error."""

    citizen_message = N_("The device is not responding. Please wait for the officer.")
    officer_hint = N_("Check that the device is plugged in and switched on, then touch Try again. "
                      "If it fails again, call the technician.")
    technician_hint = "Check the device's cable and power, then run `enrol diag`."

    def __init__(self, detail: str, *, device: str | None = None, hint: str | None = None) -> None:
        super().__init__(detail, hint=hint)
        self.device = device
        if device:
            self.args = (f"{device}: {detail}",)


class DeviceNotFound(DeviceError):
    """The configured device is not connected (or not where the configuration says)."""

    citizen_message = N_("A device of this station is not connected. Please call the officer.")
    officer_hint = N_("The device is not plugged in. Plug its cable in firmly, wait a few seconds, then touch "
                      "Try again. If it fails again, call the technician.")
    technician_hint = "Plug the device in, check the port in the configuration, then run `enrol diag`."


class DeviceDisconnected(DeviceError):
    """The device went away while it was in use (unplugged, powered off, cable fault)."""

    citizen_message = N_("The device was disconnected. Please wait while the officer reconnects it.")
    officer_hint = N_("Plug the device back in, wait a few seconds, then touch Try again. What was already "
                      "taken is kept.")
    technician_hint = "Reconnect the device; what was already captured is kept. Check the cable if it repeats."


class DeviceTimeout(DeviceError):
    """The device did not answer within the allowed time."""

    citizen_message = N_("The device is taking too long to answer. Please try again.")
    officer_hint = N_("Touch Try again. If it fails again, unplug the device, plug it back in, wait a few "
                      "seconds and try again.")
    technician_hint = "The device stopped answering; check the baud rate / cable, or power-cycle it."


class ProtocolError(DeviceError):
    """The device answered with bytes that do not follow its protocol (corrupt, truncated, unexpected)."""

    citizen_message = N_("The device sent an unreadable answer. Please try again.")
    officer_hint = N_("Touch Try again. If it fails again, unplug the device, plug it back in, wait a few "
                      "seconds and try again.")
    technician_hint = "Corrupt data on the line: check the cable and interference; record the traffic if it repeats."


class DeviceBusy(DeviceError):
    """The device is held by another process or another operation."""

    citizen_message = N_("The device is busy. Please wait a moment.")
    officer_hint = N_("Wait a moment, then touch Try again. If it stays busy, restart the station.")
    technician_hint = "Another program holds the device (check with `lsof` / `fuser`); close it and retry."


class DeviceAccessDenied(DeviceError):
    """The device refused us: wrong module password, wrong address, or no OS permission."""

    citizen_message = N_("The device refused the station. Please call the officer.")
    officer_hint = N_("The station is not allowed to use this device. Call the technician.")
    technician_hint = "Check the device password/address in the configuration and the udev permissions."


class Cancelled(Exception):
    """A wait was cancelled by the caller (the UI's cancel button).  Not a fault of the device."""
