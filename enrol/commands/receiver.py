"""``enrol receiver serve | import DIR``: the registry's reference receiver on this machine.

The receiver reads its own file (``--receiver-config FILE``, see ``docs/receiver.example.toml``);
without one, or for key material the file leaves out, it uses the station's development PKI, so
that a station and a receiver work together on one machine with no set-up.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from enrol.arguments import existing_folder, port
from enrol.commands import EXIT_DEVICE, EXIT_OK, EXIT_USAGE
from kiosk.i18n import _
from receiver.config import ReceiverConfigError, load_receiver_config
from receiver.config import receiver_settings as settings_from
from receiver.importer import import_directory
from receiver.server import ReceiverSettings, build_intake, serve
from station.config import StationConfig
from station.identity import dev_pki

KEY_MATERIAL = ("tls_certificate", "tls_key", "station_ca", "decryption_certificate", "decryption_key",
                "receipt_certificate", "receipt_key", "crl")
"""The files of :class:`ReceiverSettings` that the receiver reads its keys and certificates from."""


def register(subcommands: argparse._SubParsersAction) -> None:
    receiver = subcommands.add_parser("receiver", help=_("the registry's reference receiver"))
    receiver.add_argument("--receiver-config", type=Path, metavar="FILE",
                          help=_("the receiver's configuration file (TOML, [receiver]); none = development PKI"))
    actions = receiver.add_subparsers(dest="receiver_action", required=True)
    serve_ = actions.add_parser("serve", help=_("serve the receiver over HTTPS (client certificates required)"))
    serve_.add_argument("--host", help=_("address to listen on"))
    serve_.add_argument("--port", type=port, help=_("port to listen on"))
    serve_.set_defaults(handler=_serve)
    import_ = actions.add_parser("import", help=_("import packets exported from a station"))
    import_.add_argument("directory", type=existing_folder, metavar="DIR")
    import_.set_defaults(handler=_import)


def receiver_settings(config: StationConfig, receiver_config: Path | None = None) -> ReceiverSettings:
    """The receiver's settings from its own file; unset key material from the station's development PKI.

    Every key-material file must exist: TLS would otherwise fail with "No such file or directory" and
    no file name, long after the start."""
    settings = settings_from(load_receiver_config(receiver_config), dev_pki=lambda: dev_pki(config),
                             default_data_dir=config.data_dir / "receiver")
    missing = [f"{name} = {path}" for name, path in _key_material(settings).items() if not path.is_file()]
    if missing:
        raise ReceiverConfigError(_("no such file: {files}").format(files=", ".join(missing)))
    return settings


def _key_material(settings: ReceiverSettings) -> dict[str, Path]:
    paths = {name: getattr(settings, name) for name in KEY_MATERIAL}
    return {name: path for name, path in paths.items() if path is not None}


def _serve(args: argparse.Namespace, config: StationConfig) -> int:
    settings = receiver_settings(config, args.receiver_config)
    if args.host or args.port:
        settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    print(_("Receiver listening on https://{host}:{port} (data in {path})").format(
        host=settings.host, port=settings.port, path=settings.data_dir), flush=True)
    serve(settings)
    return EXIT_OK


def _import(args: argparse.Namespace, config: StationConfig) -> int:
    """Import every packet of the folder; a folder without any is an error, so that a script that names the
    wrong folder (or a stick that was not written) does not read success."""
    results = import_directory(args.directory, build_intake(receiver_settings(config, args.receiver_config)))
    if not results:
        print(_("No packets (*.p7m) in {path}: nothing imported.").format(path=args.directory), file=sys.stderr)
        return EXIT_USAGE
    for result in results:
        print(f"{result.packet_id}  {result.outcome}  {result.detail}")
    refused = [result for result in results if result.outcome not in ("stored", "duplicate")]
    print(_("{stored} stored, {duplicate} already stored, {refused} refused").format(
        stored=sum(r.outcome == "stored" for r in results), duplicate=sum(r.outcome == "duplicate" for r in results),
        refused=len(refused)))
    return EXIT_DEVICE if refused else EXIT_OK
