"""The public kiosk's receipt and the officer's export, through the real app and its touches.

The receipt has one number: what the citizen reads on the screen is what its QR code holds and
what is sent to the printer, and the screen says what happens next (from the configuration).  The
officer's "Export to USB" writes onto a USB drive only: the simulated station's one simulated drive
at once, the chosen one of several, none at all when none is inserted, and a failure is one plain
sentence with nothing lost.  Screenshots: receipt_next_steps, officer_export, officer_choose_drive,
officer_no_drive (artifacts/screenshots/<lang>/).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime

import cv2
import numpy as np
import pytest

from capture.finger.positions import FingerPosition
from kiosk.i18n import _
from station.outbox.store import Outbox, PacketState
from station.removable import RemovableDrive
from station.services import SIMULATED_DRIVE

from .steps import OFFICER_PIN, TECHNICIAN_PIN, enter_pin, identify, type_digits

COLLECTION_VI = "Nhận thẻ sau 7 ngày làm việc tại Công an phường Hưng Dũng, thứ Hai đến thứ Sáu."
COLLECTION_EN = "Collect your card after 7 working days at Hưng Dũng ward police, Monday to Friday."
SEALED = b"\x30\x80 pretend sealed packet" * 100


def _decode(texture) -> str:
    """What a phone's QR reader would read from the code on the screen."""
    width, height = texture.size
    rgba = np.frombuffer(texture.pixels, dtype=np.uint8).reshape(height, width, 4)
    grey = cv2.cvtColor(np.ascontiguousarray(rgba[::-1]), cv2.COLOR_RGBA2GRAY)
    return cv2.QRCodeDetector().detectAndDecode(grey)[0]


def _screen_words(screen) -> str:
    return "\n".join(str(getattr(widget, "text", "")) for widget in screen.walk())


def test_the_receipt_has_one_number_and_says_what_happens_next(kiosk, station, monkeypatch):
    services, _simulation, _receiver = station
    app = kiosk.app
    kiosk_config = dataclasses.replace(services.config.kiosk, collection_vi=COLLECTION_VI, collection_en=COLLECTION_EN)
    monkeypatch.setattr(services, "config", dataclasses.replace(services.config, kiosk=kiosk_config))
    printed: list[tuple[object, str]] = []
    monkeypatch.setattr(services, "print_slip", lambda image, qr_text: printed.append((image, qr_text)) or True)

    kiosk.start(order=(FingerPosition.RIGHT_INDEX,))
    identify(kiosk)
    kiosk.tap_id("confirm")
    screen = kiosk.screen()
    kiosk.until(lambda: screen.mode == "captured", 40, "the auto-capture")
    kiosk.tap_id("accept")
    screen = kiosk.screen()
    kiosk.until(lambda: app.session.fingers.complete and not screen.ids.proceed.disabled, 60, "the finger")
    kiosk.tap_id("proceed")
    kiosk.tap_id("confirm")
    kiosk.tap_id("confirm")
    type_digits(kiosk, OFFICER_PIN)
    kiosk.tap_id("authorise")
    kiosk.until(lambda: app.root.current == "receipt", 30, "sealing")

    receipt = app.session.receipt
    screen = kiosk.screen()
    kiosk.until(lambda: printed and screen.status, 10, "the slip to be printed")
    number = screen.ids.number.text
    assert number == receipt.enrolment_number and len(number.replace(" ", "")) == 16
    assert _decode(screen.ids.qr.texture) == number, "the QR code holds another number than the one shown"
    assert printed[0][1] == number, "the printer was given another number for the QR code"
    assert receipt.packet_id not in _screen_words(screen)
    assert screen.ids.collection.text == COLLECTION_VI
    app.set_language("en")
    kiosk.pump(0.1)
    assert screen.ids.collection.text == COLLECTION_EN
    assert "packet" not in _screen_words(screen).lower()
    app.set_language("vi")
    kiosk.until(lambda: services.outbox.get(receipt.packet_id).handed_over_at is not None, 10,
                "the enrolment to be marked handed over")
    kiosk.shots("receipt_next_steps")
    kiosk.tap_id("finish")
    assert app.root.current == "welcome" and screen.ids.number.text == "" and screen.collection == ""


# -- the officer's export ----------------------------------------------------------------------------


@pytest.fixture
def officer(kiosk, station, tmp_path, monkeypatch):
    """The officer screen over an outbox of its own (two enrolments waiting, one confirmed), so that
    the station's uploader cannot send them away while the test looks."""
    services, _simulation, _receiver = station
    outbox = Outbox(tmp_path / "outbox", min_free_bytes=0)
    waiting = [str(uuid.uuid4()), str(uuid.uuid4())]
    for packet_id in [*waiting, str(uuid.uuid4())]:
        outbox.add(packet_id, SEALED)
    outbox.mark_acknowledged(outbox.list()[-1].packet_id, b"receipt")
    monkeypatch.setattr(services, "outbox", outbox)
    kiosk.tap_id("officer")
    enter_pin(kiosk, OFFICER_PIN)
    kiosk.until(lambda: kiosk.app.root.current == "officer", 5, "the officer screen")
    screen = kiosk.screen()
    kiosk.until(lambda: screen.summary, 10, "the enrolments' status")
    kiosk.waiting = waiting
    yield screen
    kiosk.tap_id("leave")


def _day_folder(drive_folder):
    return drive_folder / f"NA-TEST-01-{datetime.now():%Y-%m-%d}"


def test_export_goes_onto_the_one_usb_drive(kiosk, station, officer):
    services, _simulation, _receiver = station
    drive = services.config.data_dir / SIMULATED_DRIVE
    assert "packet" not in _screen_words(officer).lower() and "outbox" not in _screen_words(officer).lower()
    kiosk.tap_id("export")
    kiosk.until(lambda: "2" in officer.message and "USB" in officer.message, 10, "the export")
    assert sorted(path.name for path in _day_folder(drive).glob("*.p7m")) == sorted(f"{i}.p7m" for i in kiosk.waiting)
    assert all(services.outbox.get(i).state is PacketState.SEALED for i in kiosk.waiting)  # still on the station
    app = kiosk.app
    app.set_language("en")
    kiosk.pump(0.1)
    assert officer.message == ("2 enrolment(s) copied to the USB drive “simulated USB drive”; they stay on the "
                               "station until the registry confirms them.")
    assert "Received by the registry: 1" in officer.summary
    app.set_language("vi")
    kiosk.shots("officer_export")


def test_with_several_drives_the_officer_chooses(kiosk, station, officer, tmp_path, monkeypatch):
    services, _simulation, _receiver = station
    drives = []
    for label in ("SÔNG LAM", "BACKUP"):
        (tmp_path / label).mkdir()
        drives.append(RemovableDrive(tmp_path / label, label, f"/dev/sd{len(drives) + 2}1", True, 31 * 10**9))
    monkeypatch.setattr(services, "removable_drives", lambda: drives)
    kiosk.tap_id("export")
    kiosk.until(lambda: len(officer.ids.drives.children) == 2, 10, "a button per drive")
    buttons = {button.text: button for button in officer.ids.drives.children}
    shown = _("{name} ({free} free)")
    assert set(buttons) == {shown.format(name="SÔNG LAM", free="31.0 GB"), shown.format(name="BACKUP", free="31.0 GB")}
    kiosk.shots("officer_choose_drive")
    kiosk.tap(next(button for text, button in buttons.items() if text.startswith("BACKUP")))
    kiosk.until(lambda: "BACKUP" in officer.message, 10, "the export")
    assert len(list(_day_folder(tmp_path / "BACKUP").glob("*.p7m"))) == 2
    assert list((tmp_path / "SÔNG LAM").iterdir()) == [] and officer.ids.drives.children == []


def test_without_a_drive_nothing_is_written_anywhere(kiosk, station, officer, monkeypatch):
    services, _simulation, _receiver = station
    monkeypatch.setattr(services, "removable_drives", lambda: [])
    before = sorted(services.config.data_dir.rglob("*"))
    kiosk.app.set_language("en")
    kiosk.tap_id("export")
    kiosk.until(lambda: officer.message == "No USB drive found. Insert a USB drive and try again.", 10, "the verdict")
    kiosk.app.set_language("vi")
    kiosk.shots("officer_no_drive")
    assert sorted(services.config.data_dir.rglob("*")) == before


@pytest.mark.parametrize(("broken", "says"), [
    ("read-only", "The USB drive “LOCKED” cannot be written to: it is read-only or locked."),
    ("pulled out", "The USB drive “LOCKED” was removed or stopped answering."),
])
def test_a_failed_export_is_one_sentence_and_loses_nothing(kiosk, station, officer, tmp_path, monkeypatch, broken,
                                                           says, caplog):
    services, _simulation, _receiver = station
    folder = tmp_path / "LOCKED"
    if broken == "read-only":
        folder.mkdir()
    drive = RemovableDrive(folder, "LOCKED", "/dev/sdb1", broken != "read-only", 10**9)
    monkeypatch.setattr(services, "removable_drives", lambda: [drive])
    kiosk.app.set_language("en")
    kiosk.tap_id("export")
    kiosk.until(lambda: "LOCKED" in officer.message and "..." not in officer.message, 10, "the verdict")
    assert officer.message == f"{says} Nothing was lost: the enrolments stay on the station. Check the drive and try " \
                              "again."
    assert "Traceback" not in officer.message and not officer.ids.export.disabled
    assert all(services.outbox.get(i).state is PacketState.SEALED for i in kiosk.waiting)
    assert any(record.exc_info for record in caplog.records if "export to USB failed" in record.getMessage())
    kiosk.app.set_language("vi")


def test_the_technician_report_goes_onto_the_usb_drive_too(kiosk, station, monkeypatch):
    services, _simulation, _receiver = station
    simulated = services.removable_drives
    monkeypatch.setattr(services, "removable_drives", lambda: [])
    before = sorted(services.config.data_dir.rglob("diagnostic-*"))
    kiosk.tap_id("technician")
    enter_pin(kiosk, TECHNICIAN_PIN)
    kiosk.until(lambda: kiosk.app.root.current == "technician", 5, "the technician screen")
    screen = kiosk.screen()
    kiosk.until(lambda: screen.reports, 30, "the self-tests")
    kiosk.app.set_language("en")
    kiosk.tap_id("export")
    kiosk.until(lambda: screen.message == "No USB drive found. Insert a USB drive and try again.", 10, "the verdict")
    assert sorted(services.config.data_dir.rglob("diagnostic-*")) == before

    monkeypatch.setattr(services, "removable_drives", simulated)
    kiosk.tap_id("export")
    kiosk.until(lambda: "diagnostic-" in screen.message, 20, "the report")
    assert screen.message.startswith("Diagnostic report written to the USB drive “simulated USB drive”, folder ")
    written = sorted(set(services.config.data_dir.rglob("diagnostic-*")) - set(before))
    assert [path.parent for path in written] == [services.config.data_dir / SIMULATED_DRIVE]
    assert (written[0] / "devices.json").is_file()
    kiosk.app.set_language("vi")
    kiosk.tap_id("leave")
