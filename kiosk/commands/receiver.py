"""``enrol receiver serve | import DIR``: the registry's reference receiver on this machine.

With an empty ``[receiver]`` section it uses the station's development PKI, so that a station and a
receiver work together on one machine with no set-up.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from crypto.errors import CryptoError
from crypto.keys import read_secret
from kiosk.commands import EXIT_DEVICE, EXIT_OK
from kiosk.config import StationConfig
from kiosk.i18n import _
from kiosk.outbox.identity import dev_pki
from receiver.importer import import_directory
from receiver.server import ReceiverSettings, build_intake, serve


def register(subcommands: argparse._SubParsersAction) -> None:
    receiver = subcommands.add_parser("receiver", help=_("the registry's reference receiver"))
    actions = receiver.add_subparsers(dest="receiver_action", required=True)
    serve_ = actions.add_parser("serve", help=_("serve the receiver over HTTPS (client certificates required)"))
    serve_.add_argument("--host", help=_("address to listen on"))
    serve_.add_argument("--port", type=int, help=_("port to listen on"))
    serve_.set_defaults(handler=_serve)
    import_ = actions.add_parser("import", help=_("import packets exported from a station"))
    import_.add_argument("directory", type=Path, metavar="DIR")
    import_.set_defaults(handler=_import)


def receiver_settings(config: StationConfig) -> ReceiverSettings:
    """``[receiver]`` as paths, each unset one taken from the development PKI."""
    section = config.receiver
    paths = {
        "tls_certificate": section.tls_certificate, "tls_key": section.tls_key, "station_ca": section.station_ca,
        "decryption_certificate": section.decryption_certificate, "decryption_key": section.decryption_key,
        "receipt_certificate": section.receipt_certificate, "receipt_key": section.receipt_key,
    }
    if any(value is None for value in paths.values()):
        pki = dev_pki(config)
        defaults = {
            "tls_certificate": pki.tls_certificate, "tls_key": pki.tls_key, "station_ca": pki.station_ca,
            "decryption_certificate": pki.registry_certificate, "decryption_key": pki.registry_key,
            "receipt_certificate": pki.receipt_certificate, "receipt_key": pki.receipt_key,
        }
        paths = {name: value or defaults[name] for name, value in paths.items()}
    return ReceiverSettings(
        data_dir=section.data_dir or config.data_dir / "receiver", **paths,  # type: ignore[arg-type]
        decryption_passphrase=read_secret(file=section.decryption_passphrase_file)
        if section.decryption_passphrase_file else None,
        receipt_passphrase=read_secret(file=section.receipt_passphrase_file)
        if section.receipt_passphrase_file else None,
        crl=section.crl, name=section.name, host=section.host, port=section.port)


def _serve(args: argparse.Namespace, config: StationConfig) -> int:
    settings = receiver_settings(config)
    if args.host or args.port:
        settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    print(_("Receiver listening on https://{host}:{port} (data in {path})").format(
        host=settings.host, port=settings.port, path=settings.data_dir), flush=True)
    serve(settings)
    return EXIT_OK


def _import(args: argparse.Namespace, config: StationConfig) -> int:
    try:
        intake = build_intake(receiver_settings(config))
    except (CryptoError, OSError) as error:
        print(_("Cannot start the receiver: {error}").format(error=error), file=sys.stderr)
        return EXIT_DEVICE
    results = import_directory(args.directory, intake)
    for result in results:
        print(f"{result.packet_id}  {result.outcome}  {result.detail}")
    refused = [result for result in results if result.outcome not in ("stored", "duplicate")]
    print(_("{stored} stored, {duplicate} already stored, {refused} refused").format(
        stored=sum(r.outcome == "stored" for r in results), duplicate=sum(r.outcome == "duplicate" for r in results),
        refused=len(refused)))
    return EXIT_DEVICE if refused else EXIT_OK
