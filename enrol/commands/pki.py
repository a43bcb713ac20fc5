"""``enrol pki dev``: make the development PKI (NOT for production) under the station's data directory."""

from __future__ import annotations

import argparse

from crypto.pki import NOT_FOR_PRODUCTION, DevPki, StationSubject, create_dev_pki
from enrol.commands import EXIT_OK
from kiosk.i18n import _
from station.config import StationConfig
from station.identity import dev_pki_dir


def register(subcommands: argparse._SubParsersAction) -> None:
    pki = subcommands.add_parser("pki", help=_("certificates for development and tests"))
    actions = pki.add_subparsers(dest="pki_action", required=True)
    dev = actions.add_parser("dev", help=_("create the development PKI (not for production)"))
    dev.add_argument("--force", action="store_true", help=_("replace an existing development PKI"))
    dev.add_argument("--registry-key", choices=("ec", "rsa"), default="ec",
                     help=_("registry encryption key: EC P-256 (ECDH) or RSA-3072 (RSA-OAEP)"))
    dev.set_defaults(handler=_dev)


def _dev(args: argparse.Namespace, config: StationConfig) -> int:
    directory = dev_pki_dir(config)
    if DevPki(directory).complete and not args.force:
        print(_("A development PKI already exists in {path} (use --force to replace it).").format(path=directory))
        return EXIT_OK
    subject = StationSubject(config.station_id, config.keys.province or "00", config.keys.district or "000")
    pki = create_dev_pki(directory, subject, registry_key_type=args.registry_key)
    print(f"*** {NOT_FOR_PRODUCTION} ***")
    print(_("Development PKI created in {path}:").format(path=directory))
    for name in ("root", "station_ca", "registry_certificate", "receipt_certificate", "tls_certificate",
                 "station_certificate", "station_key"):
        print(f"  {name:22} {getattr(pki, name)}")
    return EXIT_OK
