"""The enrolment flow without a screen: every step, back and retake, faults, consent, inactivity wipe."""

import dataclasses
import threading
from datetime import UTC, datetime

import numpy as np
import pytest

from capture.document.identity import DocumentSource, IdentityDocument
from capture.face.sample import FaceSample
from capture.finger.positions import ExceptionReason, FingerPosition
from capture.finger.tenprint import FingerSample, TenPrintPolicy
from drivers.device import DeviceInfo, DeviceKind
from drivers.errors import DeviceDisconnected
from kiosk.session import EnrolmentSession, Inactivity, SessionError, SessionPolicy, Step
from station.pin import PinCheck
from station.services import CardAccess, ReceiptSlip

CHIP = {
    "personal_id": "040095001234", "full_name": "Nguyễn Văn An", "date_of_birth": "02/09/1995", "sex": "Nam",
    "nationality": "Việt Nam", "ethnicity": "Kinh", "religion": "Không", "place_of_origin": "Nghi Lộc, Nghệ An",
    "place_of_residence": "Vinh, Nghệ An",
}
ACCESS = CardAccess("040095001234", "02/09/1995", "02/09/2035")
DEVICE = DeviceInfo(DeviceKind.CAMERA, "sim", "http://127.0.0.1")


class FakeServices:
    """The station as the session sees it; every call recorded."""

    def __init__(self) -> None:
        self.card_error: Exception | None = None
        self.seal_error: Exception | None = None
        self.disk_full = False
        self.sealed = []
        self.pin_results: list[PinCheck] = []

    def read_card(self, access, cancel, stage=None):
        if self.card_error:
            raise self.card_error
        return IdentityDocument(access.personal_id, DocumentSource.CHIP, dict(CHIP), datetime.now(UTC))

    def check_officer_pin(self, pin):
        return self.pin_results.pop(0) if self.pin_results else PinCheck(pin == "2468")

    def check_space(self):
        if self.disk_full:
            raise OSError("disk full")

    def seal(self, record):
        if self.seal_error:
            raise self.seal_error
        self.sealed.append(record)
        return ReceiptSlip("NA-0001", str(record.packet_id), record.station_id, record.created_at)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def services():
    return FakeServices()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def session(services, clock):
    policy = SessionPolicy("NA-01", "officer-7", inactivity_warning_s=60, inactivity_wipe_s=90,
                           tenprint=TenPrintPolicy(order=(FingerPosition.RIGHT_INDEX, FingerPosition.LEFT_INDEX)))
    return EnrolmentSession(policy, services, clock=clock)


def _face() -> FaceSample:
    return FaceSample(b"\xff\xd8jpeg", 480, 640, (), False, DEVICE, datetime.now(UTC))


def _take_fingers(session: EnrolmentSession) -> np.ndarray:
    """One real sample (injected as the ten-print session would keep it) and one declared exception."""
    pixels = np.full((288, 256), 200, np.uint8)
    sample = FingerSample(FingerPosition.RIGHT_INDEX, pixels, 500, 80, (), False, DEVICE, datetime.now(UTC))
    session.fingers._samples[FingerPosition.RIGHT_INDEX] = sample
    session.fingers.declare_exception(FingerPosition.LEFT_INDEX, ExceptionReason.BANDAGED, "cut")
    return pixels


def _to(session: EnrolmentSession, step: Step) -> None:
    """Walk a chip-card citizen forward to ``step``."""
    if step > Step.WELCOME:
        session.start()
    if step > Step.IDENTIFY:
        session.read_card(ACCESS)
    if step > Step.PERSONAL_DATA:
        session.confirm_personal_data()
    if step > Step.FACE:
        session.accept_face(_face())
    if step > Step.FINGERS:
        _take_fingers(session)
        session.fingers_done()
    if step > Step.REVIEW:
        session.confirm_review()
    assert session.step is step


def test_complete_enrolment_with_a_chip_card(session, services):
    _to(session, Step.CONSENT)
    receipt = session.authorise(True, "2468")
    assert session.step is Step.RECEIPT and receipt.enrolment_number == "NA-0001"
    (record,) = services.sealed
    assert record.demographics["full_name"] == "Nguyễn Văn An" and record.changed_from_chip == ()
    assert record.face is not None and FingerPosition.RIGHT_INDEX in record.fingers
    assert record.finger_exceptions[FingerPosition.LEFT_INDEX].reason is ExceptionReason.BANDAGED
    assert record.station_id == "NA-01" and record.operator_id == "officer-7"
    session.finish()
    assert session.step is Step.WELCOME and session.values == {} and session.receipt is None


def test_sealing_forgets_what_was_captured_but_keeps_the_receipt(session, services):
    _to(session, Step.FACE)
    session.accept_face(_face())
    pixels = _take_fingers(session)
    session.fingers_done()
    session.confirm_review()
    receipt = session.authorise(True, "2468")
    assert services.sealed[0].demographics["full_name"] == "Nguyễn Văn An"  # sealed before it was forgotten
    assert session.receipt is receipt and session.step is Step.RECEIPT
    assert session.face is None and session.document is None and session.values == {}
    assert session.fingers.samples == {} and session.chip_values == {}
    assert not pixels.any()  # the image buffer itself was zeroed


def test_changes_from_the_chip_are_flagged(session):
    _to(session, Step.PERSONAL_DATA)
    assert session.set_value("place_of_residence", "Cửa Lò, Nghệ An") is None
    assert session.changed_from_chip == ("place_of_residence",)
    with pytest.raises(SessionError, match="cannot be changed"):
        session.set_value("personal_id", "001095001234")


def test_form_validation_names_each_problem(session):
    session.start()
    assert session.unlock_officer("2468").accepted
    session.enter_manually("040095001234")
    assert session.values == {"nationality": "Việt Nam", "personal_id": "040095001234"}
    assert session.set_value("date_of_birth", "31/02/1995").message == "Not a valid date (dd/mm/yyyy)."
    assert session.set_value("sex", "male").hint == "Nam or Nữ"
    assert session.set_value("full_name", "Tr4n").field == "full_name"
    missing = {p.field for p in session.problems()}
    assert {"full_name", "date_of_birth", "sex", "place_of_origin", "place_of_residence"} <= missing
    with pytest.raises(SessionError, match="correct the highlighted"):
        session.confirm_personal_data()
    assert session.step is Step.PERSONAL_DATA


def test_manual_entry_refuses_a_wrong_id_number(session):
    session.start()
    session.unlock_officer("2468")
    with pytest.raises(SessionError, match="12 digits"):
        session.enter_manually("12345")
    assert session.step is Step.IDENTIFY


def test_id_number_that_disagrees_with_birth_date_is_explained(session):
    _to(session, Step.PERSONAL_DATA)
    session.set_value("date_of_birth", "02/09/1985")
    assert session.id_number_warnings()  # the number says born in 1995


def test_bad_card_access_data_is_refused_before_the_card_is_touched(session, services):
    session.start()
    services.card_error = AssertionError("the card must not be read")
    with pytest.raises(SessionError):
        session.read_card(CardAccess("040095001234", "32/01/1995", "02/09/2035"))


def test_card_reader_failure_keeps_the_session_and_can_be_retried(session, services):
    session.start()
    services.card_error = DeviceDisconnected("reader unplugged")
    with pytest.raises(DeviceDisconnected):
        session.read_card(ACCESS)
    assert session.step is Step.IDENTIFY and isinstance(session.fault, DeviceDisconnected)
    services.card_error = None
    session.clear_fault()
    session.read_card(ACCESS)
    assert session.step is Step.PERSONAL_DATA and session.fault is None


def test_back_keeps_everything_and_retake_replaces_only_the_photo(session):
    _to(session, Step.REVIEW)
    fingers = session.fingers.samples
    session.back()
    session.back()
    assert session.step is Step.FACE and session.face is not None
    session.back()
    assert session.step is Step.PERSONAL_DATA and session.values["full_name"] == "Nguyễn Văn An"
    session.confirm_personal_data()
    session.retake_face()
    assert session.face is None and session.fingers.samples == fingers
    session.accept_face(_face())
    session.fingers_done()
    assert session.step is Step.REVIEW


def test_fingers_must_be_complete(session):
    _to(session, Step.FINGERS)
    with pytest.raises(SessionError, match="still to be taken"):
        session.fingers_done()


def test_consent_needs_the_citizen_and_the_officer(session, services):
    _to(session, Step.CONSENT)
    with pytest.raises(SessionError, match="must confirm"):
        session.authorise(False, "2468")
    with pytest.raises(SessionError, match="Wrong PIN"):
        session.authorise(True, "0000")
    services.pin_results = [PinCheck(False, locked_for_s=59.2)]
    with pytest.raises(SessionError) as locked:
        session.authorise(True, "2468")
    assert locked.value.values == {"seconds": "60"}
    assert services.sealed == [] and session.step is Step.CONSENT


def test_sealing_failure_keeps_everything_at_consent(session, services):
    _to(session, Step.CONSENT)
    services.seal_error = OSError("No space left on device")
    with pytest.raises(OSError):
        session.authorise(True, "2468")
    assert session.step is Step.CONSENT and session.face is not None and session.fingers.samples
    services.seal_error = None
    assert session.authorise(True, "2468").enrolment_number == "NA-0001"


def test_a_retried_seal_uses_the_same_packet_id_and_the_next_citizen_another(session, services):
    """One citizen, one packet: the id is the session's, not the attempt's (issue 13)."""
    _to(session, Step.CONSENT)
    services.seal_error = OSError("No space left on device")
    with pytest.raises(OSError):
        session.authorise(True, "2468")
    first_try = session.packet_id
    services.seal_error = None
    receipt = session.authorise(True, "2468")
    assert receipt.packet_id == str(first_try) == str(services.sealed[0].packet_id)
    session.finish()
    assert session.packet_id != first_try


def test_a_full_disk_refuses_a_new_enrolment_before_it_starts(session, services):
    services.disk_full = True
    with pytest.raises(OSError):
        session.start()
    assert session.step is Step.WELCOME


def test_inactivity_warns_then_wipes(session, clock):
    _to(session, Step.FINGERS)
    pixels = _take_fingers(session)
    cancel = session.cancel
    clock.now += 59
    assert session.tick() is Inactivity.ACTIVE
    clock.now += 2
    assert session.tick() is Inactivity.WARNING and session.seconds_until_wipe() == pytest.approx(29)
    session.touch()
    clock.now += 61
    assert session.tick() is Inactivity.WARNING
    clock.now += 30
    assert session.tick() is Inactivity.WIPED
    assert session.step is Step.WELCOME and session.face is None and session.document is None
    assert session.fingers.samples == {} and session.values == {}
    assert cancel.is_set() and not session.cancel.is_set()
    assert not pixels.any()  # the image buffer itself was zeroed


def test_a_device_fault_gives_the_officer_longer_before_the_wipe(session, services, clock):
    session.start()
    services.card_error = DeviceDisconnected("reader unplugged")
    with pytest.raises(DeviceDisconnected):
        session.read_card(ACCESS)
    clock.now += 120  # past the normal wipe time, replugging the reader
    assert session.tick() is Inactivity.ACTIVE
    clock.now += 600 - 120 - 29
    assert session.tick() is Inactivity.WARNING
    session.clear_fault()  # retry: the normal clock applies again from now
    assert session.tick() is Inactivity.ACTIVE and session.step is Step.IDENTIFY
    clock.now += 91
    assert session.tick() is Inactivity.WIPED


def test_language_survives_the_wipe(session):
    session.set_language("en")
    _to(session, Step.FACE)
    session.finish()
    assert session.language == "en"
    with pytest.raises(SessionError):
        session.set_language("fr")


def test_actions_out_of_order_are_refused(session):
    with pytest.raises(SessionError, match="not possible on this screen"):
        session.accept_face(_face())
    with pytest.raises(SessionError, match="no step to go back"):
        session.back()
    assert isinstance(session.cancel, threading.Event)


# -- the officer's actions ---------------------------------------------------------------------------


def test_officer_actions_are_refused_until_the_officer_unlocks(session, services):
    """Manual ID entry, a finger declared missing, a photo taken past the checks and a cancellation
    need the officer's PIN; a wrong PIN unlocks nothing; one unlock lasts the enrolment only."""
    session.start()
    with pytest.raises(SessionError, match="Only the officer"):
        session.enter_manually("040095001234")
    assert not session.unlock_officer("1111").accepted and session.officer == ""
    with pytest.raises(SessionError, match="Only the officer"):
        session.enter_manually("040095001234")
    with pytest.raises(SessionError, match="Only the officer"):
        session.cancel_enrolment()
    session.back()
    _to(session, Step.FACE)
    manual = dataclasses.replace(_face(), manual=True)
    with pytest.raises(SessionError, match="Only the officer"):
        session.accept_face(manual)
    assert session.step is Step.FACE and session.face is None
    session.accept_face(_face())  # an auto-captured photo needs nobody's PIN
    with pytest.raises(SessionError, match="Only the officer"):
        session.declare_exception(FingerPosition.LEFT_INDEX, ExceptionReason.MISSING)
    assert session.fingers.exceptions == {}
    assert session.unlock_officer("2468").accepted and session.officer == "officer-7"
    session.declare_exception(FingerPosition.LEFT_INDEX, ExceptionReason.MISSING)
    assert FingerPosition.LEFT_INDEX in session.fingers.exceptions
    session.retake_face()
    session.accept_face(manual)
    assert session.face is manual
    session.cancel_enrolment()
    assert session.step is Step.WELCOME and session.officer == "" and session.face is None
    session.start()
    with pytest.raises(SessionError, match="Only the officer"):
        session.enter_manually("040095001234")


# -- a face is not a touch -------------------------------------------------------------------------


def test_a_face_alone_extends_the_photo_step_by_a_bounded_time(session, clock):
    """A face in view kept an abandoned session alive for ever; now it holds the photo step for
    ``face_hold_s`` after the last touch, then the warning and the wipe come as usual."""
    session.policy = dataclasses.replace(session.policy, face_hold_s=30)
    _to(session, Step.FACE)
    for _ in range(30):  # a face seen every second, nobody touching
        clock.now += 1
        session.face_seen()
        assert session.tick() is Inactivity.ACTIVE
    for _ in range(59):
        clock.now += 1
        session.face_seen()
    assert session.tick() is Inactivity.ACTIVE
    clock.now += 1
    session.face_seen()
    assert session.tick() is Inactivity.WARNING
    clock.now += 30
    session.face_seen()
    assert session.tick() is Inactivity.WIPED and session.step is Step.WELCOME


def test_a_touch_renews_the_face_hold(session, clock):
    session.policy = dataclasses.replace(session.policy, face_hold_s=30)
    _to(session, Step.FACE)
    clock.now += 30
    session.face_seen()
    session.touch()
    clock.now += 30
    session.face_seen()  # 30 s after the touch: still within the hold, the clock restarts
    clock.now += 59
    assert session.tick() is Inactivity.ACTIVE
    clock.now += 1
    assert session.tick() is Inactivity.WARNING


def test_a_face_on_another_step_is_no_activity(session, clock):
    _to(session, Step.FINGERS)
    clock.now += 89
    session.face_seen()
    clock.now += 1
    assert session.tick() is Inactivity.WIPED
