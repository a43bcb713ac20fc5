"""Widgets every screen shares: the screen base, numeric pad, Telex keyboard, PIN dialog, the
inactivity warning and the two-hand finger diagram.  Their looks are in ``widgets.kv``.

Touch targets are at least 64 dp (about 10 mm on a 10" 1280 x 800 panel), above the 9 mm that
touch guidelines ask for, because many citizens have never used a touchscreen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.label import Label
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import Screen

from capture.finger.positions import FingerPosition
from capture.finger.tenprint import TenPrintSession
from kiosk.i18n import N_, _
from kiosk.ui.telex import type_key
from station.pin import PinCheck

STEP_LABELS = (N_("Welcome"), N_("Card"), N_("Data"), N_("Photo"), N_("Fingers"), N_("Review"), N_("Confirm"),
               N_("Receipt"))
"""The step indicator's labels, one per :class:`kiosk.session.Step`."""


class KioskScreen(Screen):
    """A screen of the kiosk.  :meth:`clear` forgets everything of the citizen it shows."""

    def clear(self) -> None:
        """Called after every session wipe: no trace of the last citizen may stay on any screen."""

    @property
    def app(self) -> Any:
        return App.get_running_app()

    def say(self, message: str, tone: str = "bad") -> None:
        """Show ``message`` (translated already) in the screen's ``message`` label (a ``Status``), in
        the colour of its meaning: progress ("reading the card") is "info", never the error red."""
        self.ids.message.text = message
        self.ids.message.tone = tone


class StaffDoorsScreen(KioskScreen):
    """A screen at rest (welcome, out of service) with the officer's and the technician's doors: each
    opens after its PIN, the same way from either screen."""

    def officer(self) -> None:
        PinDialog(N_("Officer PIN"), self.app.services.check_officer_pin, lambda: self.app.go("officer")).open()

    def technician(self) -> None:
        PinDialog(N_("Technician PIN"), self.app.services.check_technician_pin,
                  lambda: self.app.go("technician")).open()


class StepIndicator(BoxLayout):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for index, label in enumerate(STEP_LABELS):
            self.add_widget(StepDot(index=index, label=label))


class StepDot(Label):
    index = NumericProperty(0)
    label = StringProperty("")


class EntryBox(ButtonBehavior, BoxLayout):
    """A field shown as a large box; touching it makes it the target of the keypad."""

    title = StringProperty("")
    value = StringProperty("")
    selected = BooleanProperty(False)
    problem = StringProperty("")
    flagged = BooleanProperty(False)
    """The value differs from what the chip holds."""
    enabled = BooleanProperty(True)


class NumPad(GridLayout):
    """Digits, backspace and clear; ``on_key`` gets "0".."9", "back" or "clear"."""

    __events__ = ("on_key",)

    def on_key(self, key: str) -> None:
        pass


class TelexKeyboard(BoxLayout):
    """A QWERTY keyboard that types Vietnamese with Telex (``kiosk.ui.telex``); ``on_key`` gets each key."""

    __events__ = ("on_key",)
    shift = BooleanProperty(False)

    def press(self, key: str) -> None:
        if key == "shift":
            self.shift = not self.shift
            return
        if len(key) == 1 and key.isalpha() and self.shift:
            key = key.upper()
            self.shift = False
        self.dispatch("on_key", key)

    def on_key(self, key: str) -> None:
        pass


def telex_edit(value: str, key: str) -> str:
    """``value`` after one key of the Telex keyboard: letters compose the last word, "back" deletes."""
    if key == "back":
        return value[:-1]
    if key == "space":
        return value + " "
    if len(key) == 1 and key.isalpha():
        head, sep, word = value.rpartition(" ")
        return head + sep + type_key(word, key)
    return value + key


def digits_edit(value: str, key: str, *, date: bool = False, limit: int = 12) -> str:
    """``value`` after one key of the numeric pad; for a date the slashes of dd/mm/yyyy come by themselves."""
    digits = value.replace("/", "")
    if key == "back":
        digits = digits[:-1]
    elif key == "clear":
        digits = ""
    elif key.isdigit() and len(digits) < (8 if date else limit):
        digits += key
    if not date:
        return digits
    parts = [digits[:2], digits[2:4], digits[4:8]]
    return "/".join(part for part in parts if part)


class PinDialog(ModalView):
    """Asks for a PIN on the numeric pad; ``check`` runs in a worker (scrypt takes ~50 ms).  ``title``
    is a message id, translated in the ``.kv`` rule so that it follows the language switch."""

    title = StringProperty("")
    masked = StringProperty("")
    message = StringProperty("")

    def __init__(self, title: str, check: Callable[[str], PinCheck], accepted: Callable[[], None],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title
        self._check = check
        self._accepted = accepted
        self._pin = ""

    def key(self, key: str) -> None:
        self._pin = digits_edit(self._pin, key)
        self.masked = "•" * len(self._pin)

    def submit(self) -> None:
        pin, self._pin, self.masked = self._pin, "", ""
        App.get_running_app().jobs.start("pin", lambda _cancel: self._check(pin), self._checked)

    def _checked(self, check: PinCheck) -> None:
        if check.accepted:
            self.dismiss()
            self._accepted()
        else:
            self.message = pin_message(check)


def pin_message(check: PinCheck) -> str:
    if check.locked_for_s:
        return _("Too many wrong PINs. Try again in {seconds} seconds.").format(
            seconds=int(check.locked_for_s + 0.999))
    return _("Wrong PIN. {count} attempts left.").format(count=check.attempts_left)


class InactivityWarning(ModalView):
    seconds = NumericProperty(0)


class ConfirmDialog(ModalView):
    """A question with two answers; the safe one (``no``, keep going) is the prominent button."""

    text = StringProperty("")
    yes_text = StringProperty("")
    no_text = StringProperty("")

    def __init__(self, text: str, yes_text: str, no_text: str, on_yes: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text, self.yes_text, self.no_text = text, yes_text, no_text
        self._on_yes = on_yes

    def confirm(self) -> None:
        self.dismiss()
        self._on_yes()


class FingerSwatch(Label):
    """A finger drawn in a state's colour, with the quality as its text (the legend's swatches)."""

    position = NumericProperty(0)
    state_name = StringProperty("todo")
    """todo | current | accepted | forced | exception | unresolved"""
    quality = StringProperty("")
    selected = BooleanProperty(False)


class FingerButton(ButtonBehavior, FingerSwatch):
    """One finger of the diagram: touched, it is chosen (to take again, or for the officer)."""


#: Where each finger sits in the diagram: (x, y, height) as fractions of its hand, palms down,
#: as the citizen sees their hands over the scanner (left hand on the left).
_LAYOUT = {"little": (0.00, 0.38, 0.42), "ring": (0.21, 0.45, 0.50), "middle": (0.42, 0.48, 0.52),
           "index": (0.63, 0.45, 0.48), "thumb": (0.86, 0.18, 0.38)}
_NAMES = ("thumb", "index", "middle", "ring", "little")


def finger_states(fingers: TenPrintSession) -> dict[int, tuple[str, str]]:
    """The diagram's state of every finger that is settled: declared (``X``) or taken (its quality;
    ``!`` when forced).  Fingers still to take are left for the caller to describe."""
    samples, exceptions = fingers.samples, fingers.exceptions
    states: dict[int, tuple[str, str]] = {}
    for position in FingerPosition:
        if position in exceptions:
            states[position] = ("exception", "X")
        elif position in samples:
            sample = samples[position]
            states[position] = ("forced" if sample.forced else "accepted",
                                f"{sample.quality}{'!' if sample.forced else ''}")
    return states


class HandsDiagram(FloatLayout):
    """Both hands with each finger's state; touching a finger selects it (``on_select``)."""

    __events__ = ("on_select",)
    states = DictProperty({})
    """position -> (state name, quality text)"""
    selected = NumericProperty(0)
    fingers = ListProperty([])
    selectable = BooleanProperty(True)
    palms = ObjectProperty(None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for position in FingerPosition:
            name = _NAMES[(position - 1) % 5]
            x, y, height = _LAYOUT[name]
            right = position <= 5
            # The right hand's thumb is on its left side as seen from above: mirror the layout.
            x = 0.54 + (0.86 - x) * 0.43 if right else x * 0.46
            button = FingerButton(position=int(position), size_hint=(0.085, height * 0.95),
                                  pos_hint={"x": x, "y": y})
            button.bind(on_release=self._touched)
            self.fingers.append(button)
            self.add_widget(button)

    def on_states(self, _instance: Any, states: dict[int, tuple[str, str]]) -> None:
        for button in self.fingers:
            state, quality = states.get(button.position, ("todo", ""))
            button.state_name = state
            button.quality = quality

    def on_selected(self, _instance: Any, position: int) -> None:
        for button in self.fingers:
            button.selected = button.position == position

    def _touched(self, button: FingerButton) -> None:
        if self.selectable:
            self.selected = button.position
            self.dispatch("on_select", button.position)

    def on_select(self, position: int) -> None:
        pass
