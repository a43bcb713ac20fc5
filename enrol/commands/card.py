"""``enrol read-card``: read an identity card's chip and show its verified demographics and every
passive-authentication step - the officer's first check, and the technician's test of a reader.

The card is opened with BAC, so the command needs what is printed on the card: either the MRZ
information (``--mrz-info DOCUMENT:BIRTH:EXPIRY``, dates YYMMDD) or, for a CCCD, the 12-digit ID
with the birth and expiry dates (``--id --birth --expiry``; both document-number conventions are
tried, docs/cccd.md).  ``--sim`` reads a synthetic citizen's card on the simulated CCID reader,
checked against the run's test CSCA; otherwise the configured reader and ``--trust DIR`` (CSCA
certificates and master lists) are used.  Nothing is written to disk.
"""

from __future__ import annotations

import argparse
import json
import sys

from capture.document.identity import IdentityDocument
from capture.document.mrz import MrzError, MrzInformation
from capture.document.passive_auth import TrustStoreError, load_csca_store
from capture.document.reader import ReadOptions, cccd_access, read_identity_document
from crypto.csca import CscaStore
from drivers.device import DeviceKind
from drivers.errors import Cancelled, ExplainedError
from drivers.smartcard.base import SHORT_MAX_LE, CardReader
from drivers.smartcard.models import create_reader
from enrol.arguments import existing_folder, integer_in, seconds
from enrol.commands import EXIT_DEVICE, EXIT_OK, EXIT_USAGE, report_failure
from kiosk.i18n import _
from station.config import ConfigError, StationConfig


def register(subcommands: argparse._SubParsersAction) -> None:
    command = subcommands.add_parser("read-card", help=_("read and verify an identity card's chip (ICAO 9303, CCCD)"))
    command.add_argument("--sim", action="store_true", help=_("read a synthetic citizen's card on a simulated reader"))
    command.add_argument("--seed", type=int, default=1, help=_("which synthetic citizen (with --sim)"))
    command.add_argument("--mrz-info", metavar="DOC:BIRTH:EXPIRY", help=_("document number and YYMMDD dates"))
    command.add_argument("--id", dest="personal_id", metavar="ID", help=_("12-digit personal ID number (CCCD)"))
    command.add_argument("--birth", metavar="YYMMDD", help=_("date of birth"))
    command.add_argument("--expiry", metavar="YYMMDD", help=_("date of expiry"))
    command.add_argument("--trust", type=existing_folder, metavar="DIR",
                         help=_("folder of CSCA certificates / master lists"))
    command.add_argument("--chunk", type=integer_in(1, SHORT_MAX_LE), default=0xDF,
                         help=_("bytes per READ BINARY, 1 to 256 (default 0xDF)"))
    command.add_argument("--extended", action="store_true", help=_("read whole files with extended-length APDUs"))
    command.add_argument("--timeout", type=seconds, default=30.0, help=_("seconds to wait for a card"))
    command.add_argument("--json", action="store_true", help=_("print JSON"))
    command.set_defaults(handler=_read_card, quiet=lambda args: args.json)


def _access(args: argparse.Namespace, simulated_citizen: object | None) -> list[MrzInformation]:
    if args.mrz_info:
        parts = args.mrz_info.split(":")
        if len(parts) != 3:
            raise MrzError(_("--mrz-info must be DOCUMENT:BIRTH:EXPIRY"))
        return [MrzInformation(*parts)]
    if args.personal_id or args.birth or args.expiry:
        if not (args.personal_id and args.birth and args.expiry):
            raise MrzError(_("--id, --birth and --expiry go together"))
        return cccd_access(args.personal_id, args.birth, args.expiry)
    if simulated_citizen is not None:
        c = simulated_citizen
        return cccd_access(c.personal_id, c.birth_date.strftime("%y%m%d"), c.expiry_date.strftime("%y%m%d"))
    raise MrzError(_("give --mrz-info, or --id with --birth and --expiry"))


def _read_card(args: argparse.Namespace, config: StationConfig) -> int:
    # --extended forces whole-file reads; otherwise they are used when the reader and the chip both can.
    options = ReadOptions(chunk_size=args.chunk, extended=True if args.extended else None)
    try:
        if args.sim:
            document = _read_simulated(args, options)
        else:
            document = _read_configured(args, config, options)
    except (MrzError, TrustStoreError) as error:
        print(_("Cannot read the card: {error}").format(error=error), file=sys.stderr)
        return EXIT_USAGE
    except (ExplainedError, Cancelled) as error:  # devices, BAC, secure messaging, LDS, chip
        # _("") would print the translation catalogue's header: only a message that is there is translated.
        message = error.citizen_message if isinstance(error, ExplainedError) else ""
        report_failure(_("Reading the card failed: {error}") + ("\n  " + _(message) if message else ""), error)
        return EXIT_DEVICE
    _print(document, args.json)
    return EXIT_OK if document.verified else EXIT_DEVICE


def _read(reader: CardReader, access: list[MrzInformation], trust: CscaStore, options: ReadOptions,
          timeout: float) -> IdentityDocument:
    with reader:
        reader.wait_for_card(timeout)
        return read_identity_document(reader, access, trust, options=options)


def _read_simulated(args: argparse.Namespace, options: ReadOptions) -> IdentityDocument:
    from hardware_sim.ccid import CcidReaderSimulator
    from hardware_sim.citizens import make_citizen
    from hardware_sim.emrtd import EmrtdChip, run_pki

    citizen = make_citizen(args.seed)
    simulator = CcidReaderSimulator()
    simulator.insert_card(EmrtdChip(citizen))
    trust = load_csca_store(args.trust) if args.trust else CscaStore([run_pki().csca_certificate])
    try:
        reader = create_reader("ccid", {}, usb_backend=simulator.backend)
        return _read(reader, _access(args, citizen), trust, options, args.timeout)
    finally:
        simulator.backend.detach(simulator)


def _read_configured(args: argparse.Namespace, config: StationConfig, options: ReadOptions) -> IdentityDocument:
    device = config.devices.get(DeviceKind.CARD_READER)
    if device is None:
        raise ConfigError(_("no card reader is configured ([devices.card_reader]); use --sim to try the simulator"))
    if args.trust is None:
        raise ConfigError(_("--trust DIR is needed: the CSCA certificates the chip's signature is checked against"))
    access = _access(args, None)
    return _read(create_reader(device.model, device.settings), access, load_csca_store(args.trust), options,
                 args.timeout)


def _print(document: IdentityDocument, as_json: bool) -> None:
    if as_json:
        print(json.dumps({
            "verified": document.verified, "personal_id": document.personal_id, "mrz": document.mrz,
            "demographics": document.demographics, "data_groups_present": list(document.data_groups_present),
            "steps": [{"name": s.name, "passed": s.passed, "detail": s.detail} for s in document.verification],
        }, ensure_ascii=False, indent=2))
        return
    print(_("Chip data (personal ID {id}):").format(id=document.personal_id or "-"))
    for key, value in document.demographics.items():
        print(f"  {key:20} {value}")
    print()
    print(_("Verification:"))
    for step in document.verification:
        mark = {True: "✔", False: "✘", None: "?"}[step.passed]
        print(f"  {mark} {step.name}: {step.detail}")
    present = ", ".join(document.data_groups_present)
    print(_("Data groups on the chip: {groups}").format(groups=present))
    if not {"DG14", "DG15"} & set(document.data_groups_present):
        print(_("No DG14/DG15: the chip cannot prove it is not a copy (no chip or active authentication)."))
    print(_("VERIFIED") if document.verified else _("NOT VERIFIED"))
