"""Enrolments kept while their citizen saw no receipt, on the officer's screen.

The station seals an enrolment before it shows the receipt; if it stopped in between (a crash, a
power cut, a kill), the enrolment is kept and will reach the registry, but the citizen saw the
screen go dark and may well enrol again.  The outbox keeps which enrolments were never handed over
(:meth:`station.outbox.store.Outbox.not_handed_over`); here the officer sees each one with its time
and the officer who authorised it, can print its receipt again (all a receipt holds is known
without opening the sealed packet), and marks it handed over once the citizen has been told.  A
row leaves the list only by that touch, never by itself: an enrolment nobody was told about stays
on the screen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kivy.factory import Factory

from kiosk.i18n import N_, _, pgettext
from kiosk.slip import collection_notice, render_slip
from station.outbox.store import PacketRow
from station.services import enrolment_number

log = logging.getLogger(__name__)

HEADING = N_("Kept, but the citizen saw no receipt (the station stopped): {count}. Tell each citizen that the "
             "enrolment is saved and must not be done again.")
ROW = N_("{time} · officer {officer} · no. {number}")
PRINT = N_("Print receipt")
TOLD = N_("Citizen told")
PRINTED = N_("The receipt of {number} has been printed.")
NO_PRINTER = N_("No printer: read the enrolment number {number} to the citizen.")
PRINT_FAILED = N_("The receipt of {number} could not be printed; read the number to the citizen.")

ROWS = 4
"""Rows shown at most (the screen has room for so many; more come up as these are handed over)."""

Say = Callable[[Callable[[], str]], None]


class RecoveredEnrolments:
    """The rows in ``rows`` (a vertical BoxLayout), one per enrolment not handed over."""

    def __init__(self, app: Any, heading: Any, rows: Any, say: Say, failed: Callable[[BaseException], None],
                 changed: Callable[[], None]) -> None:
        self._app = app
        self._heading = heading
        self._rows = rows
        self._say = say
        self._failed = failed
        self._changed = changed
        self._shown: tuple[PacketRow, ...] = ()

    def show(self, packets: tuple[PacketRow, ...]) -> None:
        """Show ``packets``; the widgets are made again only when the list changed (it is refreshed often)."""
        if [p.packet_id for p in packets] != [p.packet_id for p in self._shown]:
            self._shown = packets
            self._build()
        self.relabel()

    def clear(self) -> None:
        self._shown = ()
        self._rows.clear_widgets()
        self._heading.text = ""

    def relabel(self) -> None:
        """Caption the heading and the rows in the language shown."""
        self._heading.text = _(HEADING).format(count=len(self._shown)) if self._shown else ""
        for row, packet in zip(reversed(self._rows.children), self._shown[:ROWS], strict=True):
            label, print_button, told = reversed(row.children)
            label.text = _row_text(packet)
            print_button.text = _(PRINT)
            told.text = _(TOLD)

    def _build(self) -> None:
        self._rows.clear_widgets()
        for packet in self._shown[:ROWS]:
            row = Factory.BoxLayout(size_hint_y=None, height="64dp", spacing="12dp")
            row.add_widget(Factory.KLabel(size_hint_x=0.56, size_hint_y=1))
            row.add_widget(Factory.SmallButton(size_hint_x=0.22, on_release=lambda _b, p=packet: self._print(p)))
            row.add_widget(Factory.SmallButton(size_hint_x=0.22, on_release=lambda _b, p=packet: self._told(p)))
            self._rows.add_widget(row)

    def _print(self, packet: PacketRow) -> None:
        services = self._app.services
        slip = services.recovered_slip(packet)
        number = slip.enrolment_number
        collection = collection_notice(services.config.kiosk, self._app.lang)  # the language shown now

        def print_slip(_cancel: Any) -> bool:  # drawn in the job, as the receipt screen's slip is
            return services.print_slip(render_slip(slip, collection), number)

        self._app.jobs.start("reprint", print_slip,
                             lambda printed: self._say(lambda: _(PRINTED if printed else NO_PRINTER).format(
                                 number=number)),
                             lambda error: self._print_failed(error, number), citizen=False)

    def _print_failed(self, error: BaseException, number: str) -> None:
        log.warning("the receipt of a recovered enrolment could not be printed", exc_info=error)
        self._say(lambda: _(PRINT_FAILED).format(number=number))

    def _told(self, packet: PacketRow) -> None:
        services = self._app.services
        self._app.jobs.start("hand-over", lambda _cancel: services.hand_over(packet.packet_id),
                             lambda _none: self._handed_over(packet), self._failed, citizen=False)

    def _handed_over(self, packet: PacketRow) -> None:
        log.info("officer marked recovered enrolment %s handed over", packet.packet_id)
        self.show(tuple(p for p in self._shown if p.packet_id != packet.packet_id))
        self._changed()


def _row_text(packet: PacketRow) -> str:
    return _(ROW).format(time=packet.sealed_at.astimezone().strftime("%d/%m/%Y %H:%M"),
                         officer=packet.officer or pgettext("officer", "unknown"),
                         number=enrolment_number(packet.packet_id))
