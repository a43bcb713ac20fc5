"""One citizen's enrolment, as a state machine that knows nothing of Kivy.

Steps: welcome (language) -> identify (chip card via BAC, or manual 12-digit ID) -> personal
data (pre-filled from DG13, every change from the chip flagged) -> face -> ten fingers ->
review -> consent (the citizen confirms, the officer authorises with a PIN) -> receipt.  Sealing
and queueing happen on the way from consent to the receipt.

Device work (reading the card, the camera loop, the ten-print session) is blocking and runs in
the UI's worker threads; this class only receives the results, so every branch of the flow can
be tested without a screen or a device.  Three promises to the citizen are kept here:

* **Back and retake never lose anything**: moving back keeps what was captured; a retake
  replaces only what it retakes.
* **A device failure keeps the session**: :meth:`device_failed` records the fault for the
  error screen; nothing is discarded, and :meth:`clear_fault` resumes where it stopped.
* **Nothing of one citizen reaches the next**: after ``inactivity_warning_s`` the kiosk warns,
  after ``inactivity_wipe_s`` :meth:`tick` wipes the session (image buffers zeroed, references
  dropped, workers cancelled) and returns to the welcome step; so does :meth:`finish`.
"""

from __future__ import annotations

import enum
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Protocol

from capture.document.identity import DocumentSource, IdentityDocument
from capture.document.personal_id import Mismatch, PersonalIdError, check_personal_id, parse_personal_id
from capture.face.sample import FaceSample
from capture.finger.positions import ExceptionReason, FingerPosition
from capture.finger.tenprint import Event as FingerEvent
from capture.finger.tenprint import TenPrintPolicy, TenPrintSession
from capture.record import EnrolmentRecord
from drivers.errors import N_, DeviceError
from kiosk.i18n import LANGUAGES
from station.pin import PinCheck
from station.services import CardAccess, CardStage, ReceiptSlip


class Step(enum.IntEnum):
    """The screens of one enrolment, in order."""

    WELCOME = 0
    IDENTIFY = 1
    PERSONAL_DATA = 2
    FACE = 3
    FINGERS = 4
    REVIEW = 5
    CONSENT = 6
    RECEIPT = 7


class SessionError(Exception):
    """An action the current step does not allow, or input that cannot be accepted.

    ``message`` is a gettext message id for the screen (formatted with ``values``).
    """

    def __init__(self, message: str, **values: str) -> None:
        super().__init__(message.format(**values) if values else message)
        self.message = message
        self.values = values


@dataclass(frozen=True)
class Field:
    """One demographic field of the form."""

    name: str
    label: str
    required: bool = True
    pattern: str | None = None
    """A regular expression the whole value must match."""
    hint: str = ""


DATE_PATTERN = r"\d{2}/\d{2}/\d{4}"
#: The form, in screen order.  Names are DG13's (capture.document.lds); dates as on the card: dd/mm/yyyy.
FIELDS: tuple[Field, ...] = (
    Field("personal_id", N_("Personal ID number"), pattern=r"\d{12}", hint=N_("12 digits")),
    Field("full_name", N_("Full name"), pattern=r"[^\d\W][^\d]*", hint=N_("letters only")),
    Field("date_of_birth", N_("Date of birth"), pattern=DATE_PATTERN, hint=N_("dd/mm/yyyy")),
    Field("sex", N_("Sex"), pattern=r"Nam|Nữ", hint=N_("Nam or Nữ")),
    Field("nationality", N_("Nationality")),
    Field("ethnicity", N_("Ethnicity"), required=False),
    Field("religion", N_("Religion"), required=False),
    Field("place_of_origin", N_("Place of origin")),
    Field("place_of_residence", N_("Place of residence")),
    Field("identifying_marks", N_("Identifying marks"), required=False),
    Field("father_name", N_("Father's name"), required=False),
    Field("mother_name", N_("Mother's name"), required=False),
    Field("spouse_name", N_("Spouse's name"), required=False),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}


@dataclass(frozen=True)
class FieldProblem:
    """Why a field's value cannot be accepted.

    ``message`` is a gettext message id; the screen translates it, then formats it with ``hint``
    (itself a message id, translated first).
    """

    field: str
    message: str
    hint: str = ""


class SessionServices(Protocol):
    """What the session asks of the station (devices, sealing, PINs)."""

    def read_card(self, access: CardAccess, cancel: threading.Event,
                  stage: Callable[[CardStage], None] | None = None) -> IdentityDocument: ...

    def check_officer_pin(self, pin: str) -> PinCheck: ...

    def check_space(self) -> None:
        """Raise when the disk is too full to seal another enrolment."""

    def seal(self, record: EnrolmentRecord) -> ReceiptSlip: ...


class Inactivity(enum.Enum):
    ACTIVE = "active"
    WARNING = "warning"
    WIPED = "wiped"


@dataclass(frozen=True)
class SessionPolicy:
    station_id: str
    operator_id: str = ""
    inactivity_warning_s: float = 60.0
    inactivity_wipe_s: float = 90.0
    fault_wipe_s: float = 600.0
    """Idle time allowed while a device fault is on screen: the officer may need minutes to replug a
    device, and the error screen shows nothing of the citizen; the warning still comes first."""
    face_hold_s: float = 30.0
    """How much longer than the usual idle time a face in front of the camera keeps the photo step
    alive without a touch: a citizen holding still for the photo is there, a face alone is not
    proof (a poster, a passer-by), so it extends the step by this bounded time only."""
    tenprint: TenPrintPolicy = field(default_factory=TenPrintPolicy)


class EnrolmentSession:
    """The state of the one enrolment in progress on this kiosk."""

    def __init__(self, policy: SessionPolicy, services: SessionServices,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._services = services
        self._clock = clock
        self.language = "vi"
        self.finger_listeners: list[Callable[[FingerEvent], None]] = []
        """Called (from the capture worker) with every ten-print event: the screen, a scripted citizen."""
        self._reset()

    # -- state --------------------------------------------------------------------------------

    def _reset(self) -> None:
        self.step = Step.WELCOME
        self.document: IdentityDocument | None = None
        self.chip_values: dict[str, str] = {}
        self.values: dict[str, str] = {}
        self.face: FaceSample | None = None
        self.fingers = TenPrintSession(self.policy.tenprint, listener=self._finger_event)
        self.receipt: ReceiptSlip | None = None
        self.packet_id = uuid.uuid4()
        """This citizen's one packet id: every attempt to seal (a retry after a full disk, the officer's
        retry) uses it, so the outbox never holds two packets of one enrolment."""
        self.fault: DeviceError | None = None
        self.officer = ""
        """Who unlocked the officer's actions for this enrolment (empty: nobody yet)."""
        self._face_seen_since: float | None = None
        self.cancel = threading.Event()
        """Set when the session is wiped: every worker of this session must stop."""
        self._last_touch = self._clock()

    def _finger_event(self, event: FingerEvent) -> None:
        for listener in list(self.finger_listeners):
            listener(event)

    @property
    def changed_from_chip(self) -> tuple[str, ...]:
        """Fields whose value differs from what the chip says."""
        return tuple(name for name, chip in self.chip_values.items() if self.values.get(name, "") != chip)

    # -- welcome and language -------------------------------------------------------------------

    def set_language(self, language: str) -> None:
        if language not in LANGUAGES:
            raise SessionError(N_("Unsupported language."))
        self.language = language
        self.touch()

    def start(self) -> None:
        """The citizen pressed start: check that an enrolment can be sealed at all, then identify."""
        self._expect(Step.WELCOME)
        self._services.check_space()
        self.step = Step.IDENTIFY
        self.touch()

    # -- identify -------------------------------------------------------------------------------

    def read_card(self, access: CardAccess, stage: Callable[[CardStage], None] | None = None) -> IdentityDocument:
        """Read the chip (blocking; call from a worker).  Pre-fills the form from DG13.  ``stage``
        hears (on the worker) whether the station waits for the card or reads it."""
        self._expect(Step.IDENTIFY)
        for problem in (_validate("personal_id", access.personal_id), _date_problem("birth_date", access.birth_date),
                        _date_problem("expiry_date", access.expiry_date)):
            if problem:
                raise SessionError(problem.message)
        try:
            document = self._services.read_card(access, self.cancel, stage)
        except DeviceError as error:
            self.device_failed(error)
            raise
        self.touch()
        self._identified(document)
        return document

    def enter_manually(self, personal_id: str) -> None:
        """For a citizen without a chip card: the officer types the 12-digit number."""
        self._expect(Step.IDENTIFY)
        self._require_officer()
        try:
            parse_personal_id(personal_id)
        except PersonalIdError as error:
            raise SessionError(error.citizen_message) from None
        document = IdentityDocument(personal_id, DocumentSource.MANUAL, {"personal_id": personal_id},
                                    datetime.now(UTC))
        self._identified(document)

    def _identified(self, document: IdentityDocument) -> None:
        self.document = document
        known = {name: value for name, value in document.demographics.items() if name in FIELDS_BY_NAME}
        known.setdefault("personal_id", document.personal_id)
        self.chip_values = dict(known) if document.source is DocumentSource.CHIP else {}
        self.values = {"nationality": "Việt Nam", **known}
        self.step = Step.PERSONAL_DATA
        self.touch()

    # -- personal data --------------------------------------------------------------------------

    def set_value(self, name: str, value: str) -> FieldProblem | None:
        """Change one field; returns the problem with the new value, if any (the value is kept)."""
        self._expect(Step.PERSONAL_DATA)
        if name not in FIELDS_BY_NAME:
            raise SessionError(N_("Unknown field {name}."), name=name)
        if name == "personal_id" and self.document is not None and self.document.source is DocumentSource.CHIP:
            raise SessionError(N_("The ID number read from the chip cannot be changed."))
        self.values[name] = value.strip()
        self.touch()
        return _validate(name, self.values[name])

    def problems(self) -> list[FieldProblem]:
        """Everything that stops the form from being confirmed."""
        found = [p for name in FIELDS_BY_NAME if (p := _validate(name, self.values.get(name, "")))]
        return found

    def id_number_warnings(self) -> list[str]:
        """Disagreements between the ID number and the birth date / sex, explained (not blocking)."""
        return [str(m) for m in self.id_number_mismatches()]

    def id_number_mismatches(self) -> list[Mismatch]:
        """The same disagreements as message ids with their values, for a screen to translate."""
        number = self.values.get("personal_id", "")
        birth = _parse_date(self.values.get("date_of_birth", ""))
        sex = {"Nam": "M", "Nữ": "F"}.get(self.values.get("sex", ""))
        try:
            return check_personal_id(number, birth_date=birth, sex=sex)
        except PersonalIdError:
            return []

    def confirm_personal_data(self) -> None:
        self._expect(Step.PERSONAL_DATA)
        problems = self.problems()
        if problems:
            raise SessionError(N_("Please correct the highlighted fields."))
        self.step = Step.FACE
        self.touch()

    # -- face -----------------------------------------------------------------------------------

    def accept_face(self, sample: FaceSample) -> None:
        self._expect(Step.FACE)
        if sample.manual:
            self._require_officer()  # "take the photo now" skips the checks: the officer's call
        self.face = sample
        self.step = Step.FINGERS
        self.touch()

    def retake_face(self) -> None:
        """Go back to the camera, keeping the fingers already taken."""
        if self.step not in (Step.FINGERS, Step.REVIEW, Step.FACE):
            raise SessionError(N_("The photo cannot be retaken now."))
        self.face = None
        self.step = Step.FACE
        self.touch()

    # -- fingers --------------------------------------------------------------------------------

    def fingers_done(self) -> None:
        self._expect(Step.FINGERS)
        if not self.fingers.complete:
            raise SessionError(N_("Some fingers are still to be taken or declared by the officer."))
        self.step = Step.REVIEW
        self.touch()

    # -- review, consent, receipt ---------------------------------------------------------------

    def confirm_review(self) -> None:
        self._expect(Step.REVIEW)
        if self.face is None or not self.fingers.complete or self.problems():
            raise SessionError(N_("Something is missing; go back to complete it."))
        self.step = Step.CONSENT
        self.touch()

    def authorise(self, citizen_confirms: bool, officer_pin: str) -> ReceiptSlip:
        """The citizen confirms and the officer authorises: seal, queue, and show the receipt."""
        self._expect(Step.CONSENT)
        if not citizen_confirms:
            raise SessionError(N_("The citizen must confirm that the data is correct."))
        check = self._services.check_officer_pin(officer_pin)
        if not check.accepted:
            if check.locked_for_s:
                raise SessionError(N_("Too many wrong PINs. Try again in {seconds} seconds."),
                                   seconds=str(int(check.locked_for_s + 0.999)))
            raise SessionError(N_("Wrong PIN."))
        self.receipt = self._services.seal(self.record())
        self._forget_captures()
        self.step = Step.RECEIPT
        self.touch()
        return self.receipt

    def record(self) -> EnrolmentRecord:
        """The enrolment record as it stands (in memory only; sealing writes it)."""
        return EnrolmentRecord(
            station_id=self.policy.station_id,
            operator_id=self.policy.operator_id,
            packet_id=self.packet_id,
            demographics=dict(self.values),
            changed_from_chip=self.changed_from_chip,
            document=self.document,
            face=self.face,
            fingers=self.fingers.samples,
            finger_exceptions=self.fingers.exceptions,
        )

    def finish(self) -> None:
        """The citizen is done (or left): wipe everything and return to the welcome screen."""
        self.wipe()

    # -- navigation, faults, inactivity ---------------------------------------------------------

    def back(self) -> None:
        """One step back; what was captured stays."""
        if self.step in (Step.WELCOME, Step.RECEIPT):
            raise SessionError(N_("There is no step to go back to."))
        self.step = Step(self.step - 1)
        self.touch()

    def device_failed(self, error: DeviceError) -> None:
        """A device failed: keep everything, remember the fault for the error screen."""
        self.fault = error

    def clear_fault(self) -> None:
        """The officer pressed retry (after replugging): continue where the session stopped."""
        self.fault = None
        self.touch()

    def touch(self) -> None:
        """The citizen did something: restart the inactivity clock."""
        self._last_touch = self._clock()
        self._face_seen_since = None

    def face_seen(self) -> None:
        """The camera sees a face on the photo step: the clock restarts, but only for ``face_hold_s``
        after the last real touch (see :attr:`SessionPolicy.face_hold_s`)."""
        if self.step is not Step.FACE:
            return
        now = self._clock()
        if self._face_seen_since is None:
            self._face_seen_since = self._last_touch
        if now - self._face_seen_since <= self.policy.face_hold_s:
            self._last_touch = now

    # -- the officer ------------------------------------------------------------------------------

    def unlock_officer(self, pin: str) -> PinCheck:
        """The officer typed their PIN: their actions are allowed until this enrolment ends."""
        check = self._services.check_officer_pin(pin)
        if check.accepted:
            self.officer = self.policy.operator_id or "officer"
            self.touch()
        return check

    def _require_officer(self) -> None:
        if not self.officer:
            raise SessionError(N_("Only the officer can do this. Please ask the officer."))

    def declare_exception(self, position: FingerPosition, reason: ExceptionReason) -> None:
        """The officer says a finger cannot be taken (missing, amputated, bandaged, unusable)."""
        self._expect(Step.FINGERS)
        self._require_officer()
        self.fingers.declare_exception(position, reason)
        self.touch()

    def cancel_enrolment(self) -> None:
        """The officer ends this enrolment without saving it."""
        self._require_officer()
        self.wipe()

    def tick(self) -> Inactivity:
        """Called about once a second by the UI; wipes the session once it has been idle too long."""
        if self.step is Step.WELCOME:
            return Inactivity.ACTIVE
        idle = self._clock() - self._last_touch
        wipe_after = self._wipe_after()
        if idle >= wipe_after:
            self.wipe()
            return Inactivity.WIPED
        if idle >= wipe_after - (self.policy.inactivity_wipe_s - self.policy.inactivity_warning_s):
            return Inactivity.WARNING
        return Inactivity.ACTIVE

    def idle_s(self) -> float:
        """Seconds since the last touch (the officer's and technician's screens time out on it too)."""
        return self._clock() - self._last_touch

    def seconds_until_wipe(self) -> float:
        return max(0.0, self._wipe_after() - (self._clock() - self._last_touch))

    def _wipe_after(self) -> float:
        if self.fault is not None:
            return max(self.policy.fault_wipe_s, self.policy.inactivity_wipe_s)
        return self.policy.inactivity_wipe_s

    def wipe(self) -> None:
        """Forget the citizen: cancel workers, zero image buffers, drop every reference."""
        self.cancel.set()
        self._forget_captures()
        language = self.language
        self._reset()
        self.language = language

    def _forget_captures(self) -> None:
        """Zero the finger images and drop what was captured.  Done as soon as the record is sealed:
        from then on the station needs only the receipt, and neither a screen nor a fault report
        should find the citizen's data in memory (nor the memory be spent on it)."""
        for sample in self.fingers.samples.values():
            if sample.pixels.flags.writeable:
                sample.pixels.fill(0)
        self.document = None
        self.chip_values = {}
        self.values = {}
        self.face = None
        self.fingers = TenPrintSession(self.policy.tenprint, listener=self._finger_event)

    def _expect(self, step: Step) -> None:
        if self.step is not step:
            raise SessionError(N_("This action is not possible on this screen."))


def _validate(name: str, value: str) -> FieldProblem | None:
    spec = FIELDS_BY_NAME[name]
    if not value:
        return FieldProblem(name, N_("This field is required.")) if spec.required else None
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return FieldProblem(name, N_("Please check the format: {hint}."), spec.hint)
    if spec.pattern == DATE_PATTERN:
        return _date_problem(name, value)
    return None


def _date_problem(name: str, value: str) -> FieldProblem | None:
    parsed = _parse_date(value)
    if parsed is None:
        return FieldProblem(name, N_("Not a valid date (dd/mm/yyyy)."))
    if name == "date_of_birth" and parsed > date.today():
        return FieldProblem(name, N_("The date of birth cannot be in the future."))
    return None


def _parse_date(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return None
