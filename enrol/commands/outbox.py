"""``enrol outbox status | retry | export DIR | receipts DIR | upload``: the queue of sealed packets.

Exit statuses a script can act on: ``upload`` fails (1) while any packet is still pending, whatever
the reason (waiting, being sent, refused, quarantined); ``receipts`` fails when there is no receipt to
read; every command fails with a message, not a traceback, when the outbox database cannot be opened,
and ``export`` then still copies the packets from their files.  A corrupt database is rebuilt from
the files when the outbox opens (:mod:`station.outbox.store`), so the commands simply work.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from crypto.errors import CryptoError
from enrol.commands import EXIT_DEVICE, EXIT_OK
from kiosk.i18n import _
from packet.enrolment_number import enrolment_number
from station.config import StationConfig
from station.identity import load_identity
from station.outbox.receipts import RECEIPT_SUFFIX, ReceiptOutcome, import_receipts
from station.outbox.store import NOT_CONFIRMED, PACKETS_FOLDER, Outbox, OutboxError, PacketState, export_packet_files
from station.outbox.uploader import Outcome, Uploader
from station.services import make_uploader, open_outbox, outbox_dir


def register(subcommands: argparse._SubParsersAction) -> None:
    outbox = subcommands.add_parser("outbox", help=_("the queue of sealed packets waiting for the registry"))
    actions = outbox.add_subparsers(dest="outbox_action", required=True)
    status = actions.add_parser("status", help=_("how many packets wait, and why"))
    status.add_argument("--json", action="store_true", help=_("print JSON instead of text"))
    status.set_defaults(handler=_status, quiet=lambda args: args.json)
    retry = actions.add_parser("retry", help=_("try every waiting or refused packet again now"))
    retry.set_defaults(handler=_retry)
    export = actions.add_parser("export", help=_("copy packets not yet acknowledged to a folder (USB stick)"))
    export.add_argument("directory", type=Path, metavar="DIR")
    export.set_defaults(handler=_export)
    receipts = actions.add_parser("receipts", help=_("acknowledge packets from receipts brought back on a USB stick"))
    receipts.add_argument("directory", type=Path, metavar="DIR")
    receipts.set_defaults(handler=_receipts)
    upload = actions.add_parser("upload", help=_("upload due packets now"))
    upload.add_argument("--until-empty", action="store_true",
                        help=_("keep going (with back-off) until every packet is acknowledged or refused"))
    upload.set_defaults(handler=_upload)


def _open(config: StationConfig) -> Outbox | None:
    """The outbox, or None once the person has been told why it cannot be opened."""
    try:
        return open_outbox(config)
    except OutboxError as error:
        print(_("The outbox cannot be opened: {error}").format(error=error), file=sys.stderr)
        print("  " + _("Its packets are safe: `enrol outbox export DIR` copies them from their files alone."),
              file=sys.stderr)
        return None


def _status(args: argparse.Namespace, config: StationConfig) -> int:
    outbox = _open(config)
    if outbox is None:
        return EXIT_DEVICE
    status = outbox.status()
    if args.json:
        print(json.dumps({
            "counts": {str(state): count for state, count in status.counts.items()},
            "oldest_pending": status.oldest_pending.isoformat() if status.oldest_pending else None,
            "free_bytes": status.free_bytes, "min_free_bytes": status.min_free_bytes,
            "errors": status.last_errors, "quarantined": status.quarantined,
            "not_handed_over": [{"packet_id": row.packet_id, "enrolment_number": enrolment_number(row.packet_id),
                                 "sealed_at": row.sealed_at.isoformat(), "officer": row.officer}
                                for row in status.not_handed_over],
        }, indent=2))
        return EXIT_OK
    for state in PacketState:
        print(f"{_(str(state)):14} {status.counts[state]}")
    if status.oldest_pending:
        print(_("Oldest packet waiting since {time}").format(time=f"{status.oldest_pending:%Y-%m-%d %H:%M} UTC"))
    print(_("Free disk space: {free} MiB (enrolment stops below {floor} MiB)").format(
        free=status.free_bytes // 2**20, floor=status.min_free_bytes // 2**20))
    for packet_id, error in status.last_errors.items():
        if packet_id not in status.quarantined:
            print(f"  {packet_id}: {error}")
    if status.quarantined:
        print(_("Quarantined: their files cannot be read. Restore each file into {path}, then run "
                "`enrol outbox retry`:").format(path=outbox.packets))
        for packet_id, error in status.quarantined.items():
            print(f"  {packet_id}: {error}")
    if status.not_handed_over:
        print(_("Kept, but the citizen saw no receipt (the station stopped after sealing; the officer screen "
                "lists them until the citizen is told):"))
        for row in status.not_handed_over:
            print(f"  {row.sealed_at:%Y-%m-%d %H:%M} UTC  {enrolment_number(row.packet_id)}  "
                  f"{row.officer or '?'}  {row.packet_id}")
    return EXIT_OK


def _retry(_args: argparse.Namespace, config: StationConfig) -> int:
    outbox = _open(config)
    if outbox is None:
        return EXIT_DEVICE
    print(_("{count} packet(s) will be tried again now.").format(count=outbox.retry()))
    return EXIT_OK


def _export(args: argparse.Namespace, config: StationConfig) -> int:
    """From the outbox, or, when its database cannot be opened, from the packet files alone."""
    try:
        copy = open_outbox(config).export
    except (OutboxError, OSError) as error:
        print(_("The outbox database cannot be used ({error}); copying every packet without a stored receipt "
                "from the packet files.").format(error=error), file=sys.stderr)
        copy = functools.partial(export_packet_files, outbox_dir(config) / PACKETS_FOLDER)
    try:
        exported = copy(args.directory)
    except OSError as error:
        print(_("Export failed: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    print(_("{count} packet(s) copied to {path}; they stay in the outbox until a receipt arrives.").format(
        count=len(exported), path=args.directory))
    return EXIT_OK


def _receipts(args: argparse.Namespace, config: StationConfig) -> int:
    if not args.directory.is_dir():
        print(_("There is no folder {path}: nothing acknowledged.").format(path=args.directory), file=sys.stderr)
        return EXIT_DEVICE
    if not any(args.directory.glob(f"*{RECEIPT_SUFFIX}")):
        print(_("No receipts (*{suffix}) in {path}: nothing acknowledged.").format(
            suffix=RECEIPT_SUFFIX, path=args.directory), file=sys.stderr)
        return EXIT_DEVICE
    try:
        identity = load_identity(config)
    except (CryptoError, OSError) as error:
        print(_("Cannot check receipts: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    outbox = _open(config)
    if outbox is None:
        return EXIT_DEVICE
    results = import_receipts(args.directory, outbox, identity.receipt_trust)
    counts = Counter(result.outcome for result in results)
    for result in results:
        if result.outcome is ReceiptOutcome.REJECTED:
            print(_("Receipt for {packet} rejected: {reason}").format(packet=result.packet_id, reason=result.detail),
                  file=sys.stderr)
    print(_("{ok} acknowledged, {already} already acknowledged, {unknown} not from this station, "
            "{rejected} rejected").format(ok=counts[ReceiptOutcome.ACKNOWLEDGED],
                                          already=counts[ReceiptOutcome.ALREADY],
                                          unknown=counts[ReceiptOutcome.UNKNOWN],
                                          rejected=counts[ReceiptOutcome.REJECTED]))
    return EXIT_DEVICE if counts[ReceiptOutcome.REJECTED] else EXIT_OK


def _upload(args: argparse.Namespace, config: StationConfig) -> int:
    """Exits 0 only when nothing is left pending, so that a script knows the station is empty."""
    outbox = _open(config)
    if outbox is None:
        return EXIT_DEVICE
    try:
        uploader = make_uploader(config, outbox)
        totals = _upload_until(uploader, outbox, until_empty=args.until_empty)
    except (CryptoError, OutboxError, OSError) as error:
        print(_("Cannot upload: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    print(_("{ok} acknowledged, {retry} to retry, {refused} refused, {quarantined} quarantined").format(
        ok=totals[Outcome.ACKNOWLEDGED], retry=totals[Outcome.RETRY] + totals[Outcome.UNREACHABLE],
        refused=totals[Outcome.REFUSED], quarantined=totals[Outcome.QUARANTINED]))
    pending = len(outbox.list(*NOT_CONFIRMED))
    if pending:
        print(_("{count} packet(s) still pending (waiting, being sent, refused or quarantined); see "
                "`enrol outbox status`.").format(count=pending), file=sys.stderr)
        return EXIT_DEVICE
    return EXIT_OK


def _upload_until(uploader: Uploader, outbox: Outbox, *, until_empty: bool) -> dict[Outcome, int]:
    """One cycle, or, ``until_empty``, cycles (with back-off) until no packet is left to send (refused and
    quarantined ones wait for an officer's retry); how the attempts ended."""
    totals = {outcome: 0 for outcome in Outcome}
    while True:
        for outcome, count in uploader.upload_due().items():
            totals[outcome] += count
        if not until_empty or not outbox.list(PacketState.SEALED, PacketState.UPLOADING):
            return totals
        due = outbox.next_attempt_time()
        time.sleep(0.05 if due is None else max(0.05, min(5.0, (due - datetime.now(UTC)).total_seconds())))
