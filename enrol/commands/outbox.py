"""``enrol outbox status | retry | export DIR | receipts DIR | upload``: the queue of sealed packets."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from crypto.errors import CryptoError
from enrol.commands import EXIT_DEVICE, EXIT_OK
from kiosk.i18n import _
from station.config import StationConfig
from station.identity import load_identity
from station.outbox.receipts import ReceiptOutcome, import_receipts
from station.outbox.store import OutboxError, PacketState
from station.outbox.uploader import Outcome
from station.services import make_uploader, open_outbox


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


def _status(args: argparse.Namespace, config: StationConfig) -> int:
    outbox = open_outbox(config)
    status = outbox.status()
    if args.json:
        print(json.dumps({
            "counts": {str(state): count for state, count in status.counts.items()},
            "oldest_pending": status.oldest_pending.isoformat() if status.oldest_pending else None,
            "free_bytes": status.free_bytes, "min_free_bytes": status.min_free_bytes,
            "errors": status.last_errors,
        }, indent=2))
        return EXIT_OK
    for state in PacketState:
        print(f"{_(str(state)):14} {status.counts[state]}")
    if status.oldest_pending:
        print(_("Oldest packet waiting since {time}").format(time=f"{status.oldest_pending:%Y-%m-%d %H:%M} UTC"))
    print(_("Free disk space: {free} MiB (enrolment stops below {floor} MiB)").format(
        free=status.free_bytes // 2**20, floor=status.min_free_bytes // 2**20))
    for packet_id, error in status.last_errors.items():
        print(f"  {packet_id}: {error}")
    return EXIT_OK


def _retry(_args: argparse.Namespace, config: StationConfig) -> int:
    count = open_outbox(config).retry()
    print(_("{count} packet(s) will be tried again now.").format(count=count))
    return EXIT_OK


def _export(args: argparse.Namespace, config: StationConfig) -> int:
    try:
        exported = open_outbox(config).export(args.directory)
    except OSError as error:
        print(_("Export failed: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    print(_("{count} packet(s) copied to {path}; they stay in the outbox until a receipt arrives.").format(
        count=len(exported), path=args.directory))
    return EXIT_OK


def _receipts(args: argparse.Namespace, config: StationConfig) -> int:
    try:
        identity = load_identity(config)
    except (CryptoError, OSError) as error:
        print(_("Cannot check receipts: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    results = import_receipts(args.directory, open_outbox(config), identity.receipt_trust)
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
    outbox = open_outbox(config)
    try:
        uploader = make_uploader(config, outbox)
    except (CryptoError, OutboxError, OSError) as error:
        print(_("Cannot upload: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    totals = {outcome: 0 for outcome in Outcome}
    while True:
        for outcome, count in uploader.upload_due().items():
            totals[outcome] += count
        pending = outbox.list(PacketState.SEALED, PacketState.UPLOADING)
        if not args.until_empty or not pending:
            break
        due = outbox.next_attempt_time()
        time.sleep(0.05 if due is None else max(0.05, min(5.0, (due - datetime.now(UTC)).total_seconds())))
    print(_("{ok} acknowledged, {retry} to retry, {refused} refused").format(
        ok=totals[Outcome.ACKNOWLEDGED], retry=totals[Outcome.RETRY] + totals[Outcome.UNREACHABLE],
        refused=totals[Outcome.REFUSED]))
    return EXIT_OK if not outbox.list(PacketState.REFUSED) else EXIT_DEVICE
