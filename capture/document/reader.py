"""Reading an identity card's chip: the whole ICAO 9303 flow, from power-on to an
:class:`IdentityDocument` with every verification step.

1. Power on, SELECT the eMRTD application (AID A0000002471001, 9303-10 3.6.1).
2. PACE when EF.CardAccess (read by short EF id 1C before the application is selected) offers
   one this reader runs (:mod:`capture.document.pace`), else BAC with the MRZ information
   (:mod:`capture.document.bac`); a PACE the chip refuses falls back to BAC.  For a CCCD whose officer typed the
   12-digit ID, :func:`cccd_access` offers the two document-number conventions, most likely first
   (docs/cccd.md); the one the chip accepts is recorded in the BAC step.
3. Under secure messaging, read EF.COM, the data groups and EF.SOD: the first READ BINARY names
   the file by its short EF identifier (P1 = 0x80 | SFI, 9303-10 3.6.2 - saves a SELECT), the
   rest follow at offsets, ``chunk_size`` bytes at a time, or the whole file in one extended-length
   READ BINARY when the reader and card carry it.  A chip that refuses short EF identifiers is
   read with SELECT EF by file identifier instead.
4. Active Authentication when the chip has DG15 (:mod:`capture.document.active_auth`: INTERNAL
   AUTHENTICATE under the same session), then Chip Authentication when it has DG14
   (:mod:`capture.document.chip_auth`: new session keys from DG14's key, proved by one protected
   SELECT) - their steps come after passive authentication's.
5. Passive authentication (:mod:`capture.document.passive_auth`), then the CCCD consistency
   checks: the MRZ's document number and optional data against DG13's ID number, DG1 against
   DG13 for birth date and sex, and the ID number's own rules (:mod:`capture.document.personal_id`).

Chunk size: 0xDF (223) is the largest plain chunk whose protected response (DO87 of 225 + DO99 +
DO8E = 242 bytes) fits a short response APDU; 0xFF needs 275 bytes and so a GET RESPONSE round.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from capture.document import bac, pace, tlv
from capture.document.active_auth import active_authentication
from capture.document.chip_auth import chip_authentication
from capture.document.identity import DocumentSource, IdentityDocument, VerificationStep
from capture.document.lds import LDS_FILES, LdsError, parse_dg1, parse_dg2, parse_dg13, parse_ef_com
from capture.document.mrz import Mrz, MrzError, MrzInformation, cccd_document_numbers, cccd_personal_id, mrz_birth_date
from capture.document.passive_auth import passive_authentication
from capture.document.personal_id import PersonalIdError, check_personal_id
from capture.document.secure_messaging import (
    AesSecureMessaging,
    SecureMessaging,
    UnauthenticatedData,
    UnauthenticatedStatus,
)
from crypto.csca import CscaStore
from drivers.errors import N_, Cancelled, ExplainedError
from drivers.smartcard.base import EXTENDED_MAX_LE, CardReader, CommandAPDU, ResponseAPDU

EMRTD_AID = bytes.fromhex("A0000002471001")
DEFAULT_CHUNK = 0xDF
#: READ BINARY with INS B0 addresses at most 15 bits of offset (ISO/IEC 7816-4 11.2.3).
MAX_B0_OFFSET = 0x7FFF
SW_FILE_NOT_FOUND = 0x6A82
SW_END_OF_FILE = 0x6282
CARD_ACCESS_SFI = 0x1C


class ChipError(ExplainedError):
    """The chip answered a command with an unexpected status word."""

    citizen_message = N_("The card's chip could not be read. Please try again, holding the card still.")
    technician_hint = "An unexpected status word from the chip; the traffic log has the exchange."

    def __init__(self, detail: str, *, sw: int | None = None) -> None:
        self.sw = sw
        super().__init__(detail)


class NotAnEmrtd(ChipError):
    """The card has no ICAO 9303 application."""

    citizen_message = N_("This card has no identity chip the station can read.")
    technician_hint = "SELECT of the eMRTD application (A0000002471001) was refused: not an ICAO 9303 card."


@dataclass(frozen=True)
class ReadOptions:
    """How to read: the plain bytes per READ BINARY (1-65536), or whole files with extended length."""

    chunk_size: int = DEFAULT_CHUNK
    extended: bool | None = None
    """Whole files in one extended-length READ BINARY: True, False, or None - when both the reader
    (``supports_extended``) and the chip (its ATR's card capabilities) say they carry it."""
    data_groups: tuple[str, ...] = ("DG1", "DG2", "DG13", "DG14", "DG15")
    active_authentication: bool = True
    """Run Active Authentication when the chip has DG15 (and DG15 is read)."""
    chip_authentication: bool = True
    """Run Chip Authentication when the chip has DG14 (and DG14 is read)."""
    pace: bool = True
    """Run PACE when EF.CardAccess offers it (BAC otherwise, and when PACE is refused)."""
    use_short_ef_id: bool = True


def cccd_access(personal_id: str, birth_date: str, expiry_date: str) -> list[MrzInformation]:
    """The BAC keys to try for a CCCD from its 12-digit ID and YYMMDD dates, most likely first."""
    return [MrzInformation(number, birth_date, expiry_date) for number in cccd_document_numbers(personal_id)]


class _Session:
    """A reader, a secure-messaging session over it, and the caller's cancel event."""

    def __init__(self, reader: CardReader, cancel: threading.Event | None) -> None:
        self.reader = reader
        self.cancel = cancel or threading.Event()
        self.sm: SecureMessaging | None = None
        self.short_ef_ids = True
        """False once the chip has refused a short EF identifier for a file it has."""

    def send(self, command: CommandAPDU) -> ResponseAPDU:
        if self.cancel.is_set():
            raise Cancelled("reading the card was cancelled")
        if self.sm is None:
            return self.reader.transmit(command)
        return self.sm.transmit(self.reader, command)

    def select_application(self) -> None:
        answer = self.send(CommandAPDU(0x00, 0xA4, 0x04, 0x0C, EMRTD_AID))
        if not answer.ok:
            raise NotAnEmrtd(f"SELECT eMRTD application answered {answer.sw:04X}", sw=answer.sw)


def _try_pace(session: _Session, access: Sequence[MrzInformation], can: str | None = None
              ) -> tuple[VerificationStep | None, str]:
    """PACE with each candidate when EF.CardAccess offers a PACE this reader runs (9303-11 4.2:
    PACE first, BAC where it is not offered).  (the PACE step, or None and why BAC is used)."""
    answer = session.reader.transmit(CommandAPDU(0x00, 0xB0, 0x80 | CARD_ACCESS_SFI, 0x00, le=256))
    if not _usable(answer) or not answer.data:
        return None, ""
    try:
        offers = pace.parse_card_access(answer.data)
    except ValueError as error:
        return None, f"EF.CardAccess unreadable ({error})"
    if not offers:
        return None, "EF.CardAccess offers no PACE this reader runs"
    offer = offers[0]
    refused: list[str] = []
    passwords = [(f"CAN {can}", pace.CAN, pace.password_key(can=can))] if can else []
    passwords += [(f"document number {info.document_number}", pace.MRZ,
                   pace.password_key(mrz_information=info.key_seed_input)) for info in access]
    for label, reference, key in passwords:
        try:
            keys = pace.establish(session.reader.transmit, offer.oid, offer.parameter_id or 13, key,
                                  password=reference, send_parameter_id=offer.parameter_id is not None)
        except pace.PaceError as error:
            refused.append(f"{label}: {error}")
            continue
        session.sm = AesSecureMessaging(keys.ks_enc, keys.ks_mac, bytes(16))
        selected = session.send(CommandAPDU(0x00, 0xA4, 0x04, 0x0C, EMRTD_AID))
        if not selected.ok:
            raise NotAnEmrtd(f"SELECT eMRTD application after PACE answered {selected.sw:04X}", sw=selected.sw)
        curve = pace.PARAMETER_IDS[offer.parameter_id or 13].name
        tried = f" (refused first: {'; '.join(refused)})" if refused else ""
        return VerificationStep("PACE", True, f"{label}, ECDH generic mapping on "
                                              f"{curve}, AES-{8 * pace.KEY_SIZES[offer.oid]}{tried}"), ""
    session.sm = None
    return None, "PACE refused (" + "; ".join(refused) + ")"


def _authenticate(session: _Session, access: Sequence[MrzInformation]) -> VerificationStep:
    """BAC with each candidate in turn; the last refusal is raised if none is accepted."""
    refused: list[str] = []
    for index, info in enumerate(access):
        if index:
            session.sm = None
            session.select_application()  # a fresh start after a refused EXTERNAL AUTHENTICATE
        try:
            keys = bac.authenticate(session.reader, info)
        except bac.BacError as error:
            refused.append(info.document_number)
            if index == len(access) - 1:
                raise bac.BacError(f"BAC refused for document number(s) {', '.join(refused)}: {error}",
                                   sw=error.sw) from error
            continue
        session.sm = SecureMessaging.from_session(keys)
        tried = f" (refused first: {', '.join(refused)})" if refused else ""
        return VerificationStep("BAC", True, f"document number {info.document_number}{tried}")
    raise ValueError("no MRZ information to authenticate with")


class AbsentFile(LdsError):
    """SELECT of the file answered 6A82.  ``authenticated`` is False when that status word came
    outside secure messaging (no MAC): then it may as well be an attacker's - it can make a file
    count as missing, which the reader reports as a failed step, never as success."""

    def __init__(self, file: str, *, authenticated: bool) -> None:
        self.authenticated = authenticated
        super().__init__(file, "the chip says it has no such file" +
                         ("" if authenticated else " (a status word without MAC)"))


def _usable(answer: ResponseAPDU) -> bool:
    """9000, or the end-of-file warning 6282 with the data that remains (ISO/IEC 7816-4 5.6)."""
    return answer.ok or (answer.sw == SW_END_OF_FILE and bool(answer.data))


def _read_binary(session: _Session, command: CommandAPDU) -> ResponseAPDU:
    """READ BINARY.  A warning whose data comes without MAC (vicc answers 6282 so when Le is more
    than the file holds) is never used: the same bytes are asked again with an Le the chip can
    fill - at least 8 (jmrtd's read-ahead; every LDS file is longer), at most the size the
    unusable answer hinted at - which a chip answers 9000 with a MAC."""
    try:
        return session.send(command)
    except UnauthenticatedData as unusable:
        le = max(8, unusable.length - bac.BLOCK)
        if command.le is None or le >= command.le:
            raise ChipError(f"READ BINARY answered {unusable.sw:04X} with data that carries no MAC",
                            sw=unusable.sw) from unusable
        try:
            return session.send(command.with_le(le))
        except UnauthenticatedData as again:
            raise ChipError(f"READ BINARY answered {again.sw:04X} with data that carries no MAC, twice",
                            sw=again.sw) from again


def read_file(session: _Session, name: str, options: ReadOptions) -> bytes:
    """One LDS file, whole, under secure messaging.

    First by short EF identifier (if allowed); any refusal of that - 6A82 included, which here
    only means "no file with this short identifier" (vicc's files have none) - is followed by
    SELECT by file identifier, and only a SELECT answered 6A82 means the file is absent
    (:class:`AbsentFile`).  A chip that needed the SELECT is asked by SELECT for the rest of the
    session.  READ BINARY answered 6282 (end of file before Le bytes) is data, not an error."""
    fid, sfi, _ = LDS_FILES[name]
    first_le = EXTENDED_MAX_LE if options.extended else options.chunk_size
    answer = None
    if options.use_short_ef_id and session.short_ef_ids:
        answer = _read_binary(session, CommandAPDU(0x00, 0xB0, 0x80 | sfi, 0x00, le=first_le))
        if not _usable(answer):
            answer = None
    if answer is None:
        selected = session.send(CommandAPDU(0x00, 0xA4, 0x02, 0x0C, fid.to_bytes(2, "big")))
        if selected.sw == SW_FILE_NOT_FOUND:
            raise AbsentFile(name, authenticated=not isinstance(selected, UnauthenticatedStatus))
        if not selected.ok:
            raise ChipError(f"SELECT {name} answered {selected.sw:04X}", sw=selected.sw)
        if options.use_short_ef_id and session.short_ef_ids:
            session.short_ef_ids = False
        answer = _read_binary(session, CommandAPDU(0x00, 0xB0, 0x00, 0x00, le=first_le))
    if not _usable(answer):
        raise ChipError(f"READ BINARY {name} answered {answer.sw:04X}", sw=answer.sw)
    data = bytearray(answer.data)
    try:
        header_size, value_size = tlv.header(bytes(data))
    except tlv.TlvError as error:
        raise LdsError(name, f"file header: {error}") from error
    total = header_size + value_size
    while len(data) < total:
        offset = len(data)
        if offset > MAX_B0_OFFSET:
            raise LdsError(name, f"{total} bytes: offsets past 32767 need READ BINARY B1, which this reader "
                                 "does not send")
        wanted = total - offset if options.extended else min(options.chunk_size, total - offset)
        answer = _read_binary(session, CommandAPDU(0x00, 0xB0, offset >> 8, offset & 0xFF,
                                                   le=min(wanted, EXTENDED_MAX_LE)))
        if not _usable(answer):
            raise ChipError(f"READ BINARY {name} at {offset} answered {answer.sw:04X}", sw=answer.sw)
        if not answer.data:
            raise LdsError(name, f"the chip returned no data at offset {offset} of {total}")
        data += answer.data
    return bytes(data[:total])


def read_identity_document(reader: CardReader, access: MrzInformation | Sequence[MrzInformation],
                           trust: CscaStore, *, options: ReadOptions | None = None,
                           cancel: threading.Event | None = None, today: date | None = None,
                           can: str | None = None) -> IdentityDocument:
    """Read and verify the card on ``reader`` (which must be open, with a card present).

    ``can``: the Card Access Number printed on the card, tried first as PACE's password when the chip
    offers PACE (the MRZ information otherwise, and for BAC).

    Raises BacError (wrong MRZ information), CardRemoved and other DeviceErrors, SecureMessagingError,
    LdsError or ChipError - typed, so that the kiosk can say what happened; a card whose data does
    not verify is *returned*, with the failing steps, and ``verified`` False.
    """
    options = options or ReadOptions()
    candidates = [access] if isinstance(access, MrzInformation) else list(access)
    session = _Session(reader, cancel)
    answer_to_reset = reader.power_on()
    if options.extended is None:
        options = dataclasses.replace(options, extended=answer_to_reset.extended_length and reader.supports_extended)
    try:
        pace_step, why_bac = _try_pace(session, candidates, can) if options.pace else (None, "")
        if pace_step is not None:
            steps = [pace_step]
        else:
            session.select_application()
            bac_step = _authenticate(session, candidates)
            steps = [dataclasses.replace(bac_step, detail=f"{bac_step.detail}; {why_bac}") if why_bac else bac_step]
        files = {"COM": read_file(session, "COM", options)}
        com = parse_ef_com(files["COM"])
        for name in (*(n for n in options.data_groups if n in com.data_groups), "SOD"):
            try:
                files[name] = read_file(session, name, options)
            except AbsentFile as absent:
                listed = "EF.COM lists it" if name != "SOD" else "every eMRTD has one"
                steps.append(VerificationStep(f"{name} read", False, f"{listed}, but {absent.detail}"))
        clone_checks = []
        if options.active_authentication and "DG15" in files:
            clone_checks.append(active_authentication(session.send, files["DG15"]))
        if options.chip_authentication and "DG14" in files and session.sm is not None:
            step, restarted = chip_authentication(session.reader, session.sm, files["DG14"])
            clone_checks.append(step)
            session.sm = restarted
    finally:
        reader.power_off()
    steps += passive_authentication(files.get("SOD", b""), {n: d for n, d in files.items() if n.startswith("DG")},
                                    trust)
    steps += clone_checks
    mrz, demographics, portrait = None, {}, None
    if "DG1" in files:
        try:
            mrz = parse_dg1(files["DG1"])
        except LdsError as error:
            steps.append(VerificationStep("DG1 MRZ", False, str(error)))
    if "DG13" in files:
        try:
            demographics = parse_dg13(files["DG13"])
        except LdsError as error:
            steps.append(VerificationStep("DG13 citizen data", False, str(error)))
    if "DG2" in files:
        try:
            faces = parse_dg2(files["DG2"])
            portrait = faces[0].as_jpeg() if faces else None
        except LdsError as error:
            steps.append(VerificationStep("DG2 portrait", False, str(error)))
    if mrz is not None and not demographics:
        demographics = {"full_name": f"{mrz.surname} {mrz.given_names}".strip(), "sex": mrz.sex,
                        "nationality": mrz.nationality}
    try:
        from_mrz = cccd_personal_id(mrz) if mrz else None
    except MrzError:
        from_mrz = None  # reported by the CCCD checks
    personal_id = demographics.get("personal_id") or from_mrz or ""
    steps += _cccd_checks(mrz, demographics, personal_id, today or date.today())
    return IdentityDocument(
        personal_id=personal_id, source=DocumentSource.CHIP, demographics=demographics,
        read_at=datetime.now(UTC), mrz=mrz.text if mrz else None, data_groups=files, portrait_jpeg=portrait,
        verification=tuple(steps), data_groups_present=com.data_groups,
    )


def _cccd_checks(mrz: Mrz | None, demographics: dict[str, str], personal_id: str,
                 today: date) -> list[VerificationStep]:
    """The CCCD conventions checked on this card's own data (docs/cccd.md).  Birth dates may be
    known only in part: MRZ ``YY<<<<`` / ``YYMM<<`` (9303-3), DG13 ``yyyy`` or ``mm/yyyy``."""
    if not personal_id:
        return []
    steps = []
    mrz_birth: tuple[int, int | None, int | None] | None = None
    if mrz is not None:
        try:
            mrz_birth = mrz_birth_date(mrz.birth_date, today=today)
        except MrzError as error:
            steps.append(VerificationStep("MRZ dates", False, str(error)))
    card_birth, card_birth_problem = _dg13_date(demographics.get("date_of_birth", ""))
    if card_birth_problem:
        steps.append(VerificationStep("DG13 birth date", False, card_birth_problem))
    if mrz is not None:
        problems = []
        if not _twelve_digits(personal_id):
            problems.append(f"the personal ID number {personal_id!r} is not 12 digits")
        elif mrz.document_number not in cccd_document_numbers(personal_id):
            problems.append(f"MRZ document number {mrz.document_number} is neither the first nor the last "
                            f"nine digits of {personal_id}")
        elif mrz.document_number != personal_id[3:]:
            problems.append(f"MRZ document number {mrz.document_number} is the first nine digits of the ID, "
                            "not the last nine seen on other cards")
        try:
            in_optional_data = cccd_personal_id(mrz)
        except MrzError as error:
            in_optional_data = None
            problems.append(str(error))
        if in_optional_data not in (None, personal_id):
            problems.append(f"MRZ optional data holds {in_optional_data}, DG13 holds {personal_id}")
        if card_birth is not None and not _same_date(card_birth, mrz.birth_date):
            problems.append(f"DG13 birth date {demographics.get('date_of_birth')} differs from the MRZ's "
                            f"{mrz.birth_date}")
        sex = {"Nam": "M", "Nữ": "F"}.get(demographics.get("sex", ""), mrz.sex)
        if sex != mrz.sex:
            problems.append(f"DG13 sex {demographics.get('sex')} differs from the MRZ's {mrz.sex}")
        steps.append(VerificationStep("MRZ and DG13 agree", not problems, "; ".join(problems) or
                                      f"document number = last 9 digits of {personal_id}; full ID in the "
                                      "optional data; birth date and sex match"))
    birth = card_birth or mrz_birth
    try:
        mismatches = check_personal_id(personal_id, birth_year=birth[0] if birth else None,
                                       sex=demographics.get("sex") or (mrz.sex if mrz else None))
    except PersonalIdError as error:
        return [*steps, VerificationStep("Personal ID number rules", False, str(error))]
    steps.append(VerificationStep("Personal ID number rules", not mismatches,
                                  "; ".join(str(m) for m in mismatches) or
                                  "province code, century and sex digit, and birth year agree"))
    return steps


def _twelve_digits(text: str) -> bool:
    return len(text) == 12 and text.isascii() and text.isdigit()


def _same_date(card: tuple[int, int | None, int | None], yymmdd: str) -> bool:
    """Whether a DG13 date and an MRZ YYMMDD agree on every part both of them know."""
    year, month, day = card
    if f"{year % 100:02d}" != yymmdd[0:2]:
        return False
    if month is not None and yymmdd[2:4] != "<<" and f"{month:02d}" != yymmdd[2:4]:
        return False
    return day is None or yymmdd[4:6] == "<<" or f"{day:02d}" == yymmdd[4:6]


def _dg13_date(text: str) -> tuple[tuple[int, int | None, int | None] | None, str]:
    """A DG13 date as (year, month or None, day or None) - dd/mm/yyyy as printed on the card, or
    mm/yyyy, or yyyy for a date known only in part - and the problem, if it is none of these."""
    text = text.strip()
    if not text:
        return None, ""
    for pattern, parts in (("%d/%m/%Y", 3), ("%m/%Y", 2), ("%Y", 1)):
        try:
            parsed = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        if len(text.split("/")[-1]) != 4:
            break
        return (parsed.year, parsed.month if parts >= 2 else None, parsed.day if parts == 3 else None), ""
    return None, f"{text!r} is not a date written dd/mm/yyyy, mm/yyyy or yyyy"
