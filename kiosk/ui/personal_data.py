"""Personal data: the form, pre-filled from the chip's DG13; every change from the chip is flagged,
each field is validated as it is typed.  Text is typed on the Telex keyboard, numbers and dates on
the numeric pad, the sex chosen with two buttons."""

from __future__ import annotations

from typing import Any

from capture.document.identity import DocumentSource
from kiosk.i18n import _
from kiosk.session import FIELDS, FIELDS_BY_NAME, FieldProblem, SessionError
from kiosk.ui.widgets import EntryBox, KioskScreen, digits_edit, telex_edit

NUMERIC = {"personal_id": 12}
DATES = {"date_of_birth"}
CHOICES = {"sex": ("Nam", "Nữ")}


class PersonalDataScreen(KioskScreen):
    def on_kv_post(self, _base: Any) -> None:
        self.boxes: dict[str, EntryBox] = {}
        self.editing = ""
        for spec in FIELDS:
            box = EntryBox()
            box.bind(on_release=lambda widget, name=spec.name: self.edit(name))
            self.boxes[spec.name] = box
            self.ids.form.add_widget(box)
        # Strong references: ``ids`` holds weak proxies, and an editor taken out of the layout
        # (only the one in use is in it) would be collected, and the next tap on a field that
        # needs it would raise ReferenceError.
        self.editors = {name: self.ids[name].__self__ for name in ("letters", "numbers", "choice")}

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()
        self.edit(self.editing or "full_name", scroll=False)
        self.ids.scroll.scroll_y = 1  # the form opens at its top: the citizen reads it from the first field
        self.app.bind(lang=self._relabel)

    def on_leave(self, *_args: Any) -> None:
        self.app.unbind(lang=self._relabel)

    def clear(self) -> None:
        for box in self.boxes.values():
            box.value = box.problem = ""
            box.flagged = box.selected = False
        self.editing = ""
        self.ids.message.text = self.ids.notes.text = ""
        self.ids.scroll.scroll_y = 1

    def _relabel(self, *_args: Any) -> None:
        self.refresh()
        self._show_editor()

    def refresh(self) -> None:
        """Show the session's values, their problems and the chip flags."""
        session = self.app.session
        changed = set(session.changed_from_chip)
        chip_id = session.document is not None and session.document.source is DocumentSource.CHIP
        for spec in FIELDS:
            box = self.boxes[spec.name]
            box.title = _(spec.label) + ("" if spec.required else " " + _("(optional)"))
            if spec.name != self.editing:
                box.value = session.values.get(spec.name, "")
            box.flagged = spec.name in changed
            box.enabled = not (spec.name == "personal_id" and chip_id)
            box.selected = spec.name == self.editing
        self._show_problems(self.ids.message.text != "")
        notes = [_(m.message).format(**m.values) for m in session.id_number_mismatches()]
        document = session.document
        if document is not None and document.source is DocumentSource.CHIP and not document.verified:
            notes.insert(0, _("The chip's data could not be verified. The officer must check the card."))
        self.ids.notes.text = "\n".join(notes)

    def _show_problems(self, all_fields: bool) -> None:
        """Problems of the field being typed, or of every field after a refused confirmation."""
        problems = {p.field: p for p in self.app.session.problems()}
        for name, box in self.boxes.items():
            problem = problems.get(name)
            show = problem is not None and (all_fields or (name == self.editing and box.value))
            box.problem = _problem_text(problem) if show and problem else ""

    def edit(self, name: str, *, scroll: bool = True) -> None:
        box = self.boxes[name]
        if not box.enabled:
            self.ids.message.text = _("The ID number read from the chip cannot be changed.")
            return
        self.editing = name
        for other, widget in self.boxes.items():
            widget.selected = other == name
        self._show_editor()
        if scroll:
            self.ids.scroll.scroll_to(box, padding=20, animate=False)

    def _show_editor(self) -> None:
        name = self.editing
        if not name:
            return
        self.ids.editing_title.text = _(FIELDS_BY_NAME[name].label)
        hint = FIELDS_BY_NAME[name].hint
        self.ids.editing_hint.text = _(hint) if hint else ""
        kind = "choice" if name in CHOICES else "numbers" if name in NUMERIC or name in DATES else "letters"
        # Only the editor in use is in the layout: a hidden one would still take touches where it lies.
        area = self.ids.editor_area
        editor = self.editors[kind]
        if editor.parent is not area:
            area.clear_widgets()
            area.add_widget(editor)

    def key(self, key: str) -> None:
        if not self.editing:
            return
        if key == "done":
            self._next_field()
            return
        box = self.boxes[self.editing]
        if self.editing in NUMERIC or self.editing in DATES:
            box.value = digits_edit(box.value, key, date=self.editing in DATES, limit=NUMERIC.get(self.editing, 12))
        else:
            box.value = telex_edit(box.value, key)
        self._set(self.editing, box.value)

    def choose(self, value: str) -> None:
        self.boxes[self.editing].value = value
        self._set(self.editing, value)

    def _set(self, name: str, value: str) -> None:
        try:
            self.app.session.set_value(name, value)
        except SessionError as error:
            self.ids.message.text = _(error.message)
            return
        self.refresh()

    def _next_field(self) -> None:
        names = [spec.name for spec in FIELDS if self.boxes[spec.name].enabled]
        self.edit(names[(names.index(self.editing) + 1) % len(names)])

    def confirm(self) -> None:
        try:
            self.app.session.confirm_personal_data()
        except SessionError as error:
            self.ids.message.text = _(error.message)
            self._show_problems(True)
            return
        self.ids.message.text = ""
        self.app.show_step()

    def back(self) -> None:
        self.app.session.back()
        self.app.show_step()


def _problem_text(problem: FieldProblem) -> str:
    return _(problem.message).format(hint=_(problem.hint) if problem.hint else "")
