"""The officer's summary of the enrolments kept on the station names those set aside as unreadable
(issue 13): their number, and each one's enrolment number and reason, so the officer can call the
technician and, if a file is lost for good, the citizen."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest

from kiosk import i18n
from packet.enrolment_number import enrolment_number
from station.outbox.store import OutboxStatus, PacketState


@pytest.fixture
def show(display):
    """``OfficerScreen._show`` on a stand-in for the screen (only the text is under test; Kivy is
    imported as the UI tests import it, ``display`` setting its environment)."""
    from kiosk.ui.officer import OfficerScreen

    screen = SimpleNamespace(app=SimpleNamespace(faults=0), summary="", _status=None,
                             recovered=SimpleNamespace(show=lambda _packets: None))
    i18n.set_language("en")
    yield lambda status: (OfficerScreen._show(screen, status), screen.summary)[1]
    i18n.set_language("vi")


def _status(quarantined: dict[str, str]) -> OutboxStatus:
    counts = {state: 0 for state in PacketState}
    counts[PacketState.QUARANTINED] = len(quarantined)
    return OutboxStatus(counts, None, 10**9, 2 * 10**8, dict(quarantined), dict(quarantined))


def test_quarantined_enrolments_are_counted_and_named(show):
    packet_id = str(uuid.uuid4())
    summary = show(_status({packet_id: "unreadable (EIO): Input/output error"}))
    assert "Cannot be read, set aside (call the technician): 1" in summary
    assert f"{enrolment_number(packet_id)}: the disk cannot read its file" in summary
    assert "packet" not in summary.lower()


def test_without_quarantined_enrolments_there_is_no_such_line(show):
    assert "set aside" not in show(_status({}))


@pytest.mark.parametrize(("error", "english", "vietnamese"), [
    ("unreadable (ENOENT): No such file or directory", "its file is missing", "không còn tệp"),
    ("unreadable (EACCES): Permission denied", "may not read its file", "quyền"),
    ("unreadable (ELOOP): Too many levels of symbolic links", "its file cannot be read (Too many levels", "(Too many"),
    ("unreadable: test", "its file cannot be read (test)", "(test)"),
])
def test_the_reason_is_said_in_the_officers_language(display, error, english, vietnamese):
    from kiosk.ui.officer import quarantine_reason

    try:
        i18n.set_language("en")
        assert english in quarantine_reason(error)
        i18n.set_language("vi")
        assert vietnamese in quarantine_reason(error) and quarantine_reason(error).startswith(("không", "trạm", "ổ"))
    finally:
        i18n.set_language("vi")
