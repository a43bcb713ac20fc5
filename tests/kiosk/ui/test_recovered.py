"""Enrolments kept while the citizen saw no receipt, on the officer's screen (issue 13): each with its
time, officer and enrolment number; its receipt printed again on demand; gone from the list only
when the officer says the citizen was told.  Screenshot: officer_recovered (artifacts/screenshots/<lang>/)."""

from __future__ import annotations

import uuid

import pytest

from packet.enrolment_number import enrolment_number
from station.outbox.store import Outbox

from .steps import OFFICER_PIN, enter_pin

SEALED = b"\x30\x80 pretend sealed packet" * 100


@pytest.fixture
def recovered(kiosk, station, tmp_path, monkeypatch):
    """An outbox of the station's own kind with one enrolment handed over and two not (the station was
    killed after sealing them), the officer screen open on it."""
    services, _simulation, _receiver = station
    outbox = Outbox(tmp_path / "outbox", min_free_bytes=0)
    handed, *kept = (str(uuid.uuid4()) for _ in range(3))
    outbox.add(handed, SEALED, officer="CB-0001")
    outbox.hand_over(handed)
    outbox.add(kept[0], SEALED, officer="CB-0042")
    outbox.add(kept[1], SEALED)  # its row rebuilt from its file: the officer is not known
    monkeypatch.setattr(services, "outbox", outbox)
    kiosk.tap_id("officer")
    enter_pin(kiosk, OFFICER_PIN)
    kiosk.until(lambda: kiosk.app.root.current == "officer", 5, "the officer screen")
    screen = kiosk.screen()
    kiosk.until(lambda: len(screen.ids.recovered.children) == 2, 10, "the recovered enrolments")
    yield screen, outbox, kept
    if kiosk.app.root.current == "officer":
        kiosk.tap_id("leave")


def _rows(screen):
    """(label, print button, told button) of each row, top to bottom."""
    return [tuple(reversed(row.children)) for row in reversed(screen.ids.recovered.children)]


def test_the_officer_sees_each_enrolment_with_its_time_officer_and_number(kiosk, recovered):
    screen, outbox, kept = recovered
    kiosk.app.set_language("en")
    kiosk.pump(0.1)
    heading = screen.ids.recovered_heading.text
    assert heading.startswith("Kept, but the citizen saw no receipt (the station stopped): 2.")
    labels = [row[0].text for row in _rows(screen)]
    sealed = outbox.get(kept[0]).sealed_at.astimezone()
    assert labels[0] == f"{sealed:%d/%m/%Y %H:%M} · officer CB-0042 · no. {enrolment_number(kept[0])}"
    assert labels[1].endswith(f"officer unknown · no. {enrolment_number(kept[1])}")
    kiosk.app.set_language("vi")
    kiosk.pump(0.1)
    assert "cán bộ không rõ" in _rows(screen)[1][0].text and "In biên nhận" == _rows(screen)[0][1].text
    kiosk.shots("officer_recovered")


def test_the_receipt_is_printed_again_with_the_enrolment_number(kiosk, station, recovered, monkeypatch):
    services, _simulation, _receiver = station
    screen, _outbox, kept = recovered
    printed: list[tuple[object, str]] = []
    monkeypatch.setattr(services, "print_slip", lambda image, qr_text: printed.append((image, qr_text)) or True)
    kiosk.tap(_rows(screen)[0][1])
    kiosk.until(lambda: printed and screen.message, 10, "the receipt to be printed")
    assert printed[0][1] == enrolment_number(kept[0])
    assert enrolment_number(kept[0]) in screen.message
    assert printed[0][0].width > 0  # the slip image itself


def test_without_a_printer_the_officer_is_told_to_read_the_number(kiosk, station, recovered, monkeypatch):
    services, _simulation, _receiver = station
    screen, _outbox, kept = recovered
    monkeypatch.setattr(services, "print_slip", lambda image, qr_text: False)
    kiosk.tap(_rows(screen)[1][1])
    kiosk.until(lambda: screen.message, 10, "the answer")
    assert enrolment_number(kept[1]) in screen.message
    kiosk.app.set_language("en")
    kiosk.pump(0.1)
    assert screen.message.startswith("No printer")
    kiosk.app.set_language("vi")


def test_citizen_told_takes_the_enrolment_off_the_list_for_good(kiosk, recovered):
    screen, outbox, kept = recovered
    kiosk.tap(_rows(screen)[0][2])
    kiosk.until(lambda: len(screen.ids.recovered.children) == 1, 10, "the row to go")
    assert [row.packet_id for row in outbox.not_handed_over()] == [kept[1]]
    kiosk.tap(_rows(screen)[0][2])
    kiosk.until(lambda: not screen.ids.recovered.children, 10, "the last row to go")
    assert outbox.not_handed_over() == [] and screen.ids.recovered_heading.text == ""
    kiosk.pump(5.5)  # the screen's periodic refresh brings nothing back
    assert not screen.ids.recovered.children
