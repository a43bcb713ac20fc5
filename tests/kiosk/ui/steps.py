"""Steps the UI tests share: typing on a pad, identifying with the simulated card, a PIN in the
dialog that asks for it, and every text the app shows."""

from __future__ import annotations

from hardware_sim.citizens import make_citizen

from .conftest import CITIZEN

OFFICER_PIN = "2468"
TECHNICIAN_PIN = "1357"


def type_digits(kiosk, text: str) -> None:
    """Type the digits of ``text`` on the current screen's numeric pad."""
    type_digits_on(kiosk, kiosk.screen().ids.pad, text)


def type_digits_on(kiosk, pad, text: str) -> None:
    for char in text:
        if char.isdigit():
            kiosk.key(pad, char)


def top_dialog(app):
    """The dialog in front (the window's first child), or None when only the screens show."""
    children = app.root_window.children
    return children[0] if len(children) > 1 else None


def enter_pin(kiosk, pin: str = OFFICER_PIN) -> None:
    """Type ``pin`` in the PIN dialog in front and press OK (it closes when the PIN is right)."""
    dialog = top_dialog(kiosk.app)
    assert dialog is not None and "pad" in dialog.ids, "no PIN dialog is open"
    type_digits_on(kiosk, dialog.ids.pad, pin)
    kiosk.tap(dialog.ids.ok)
    kiosk.until(lambda: dialog.message or dialog.parent is None, 10, "the PIN verdict")


def identify(kiosk) -> None:
    """From the welcome screen to the personal data, with the simulated citizen's chip card."""
    citizen = make_citizen(CITIZEN)
    kiosk.tap_id("start")
    type_digits(kiosk, citizen.personal_id)
    kiosk.tap_id("birth_date")
    type_digits(kiosk, f"{citizen.birth_date:%d%m%Y}")
    kiosk.tap_id("expiry_date")
    type_digits(kiosk, f"{citizen.expiry_date:%d%m%Y}")
    kiosk.tap_id("read")
    kiosk.until(lambda: kiosk.app.root.current == "personal_data", 20, "the chip to be read")


def texts(app) -> str:
    """Every text on every screen and open dialog of the app."""
    found = []
    for root in [*app.root.screens, *app.root_window.children]:
        for widget in root.walk():
            for name in ("text", "value", "title", "hint", "message", "summary", "status", "instruction",
                         "feedback", "guidance"):
                value = getattr(widget, name, None)
                if isinstance(value, str):
                    found.append(value)
    return "\n".join(found)
