"""``enrol pin hash``: the stored form of an officer or technician PIN, for ``[kiosk]``.

The configuration file holds only scrypt hashes (``station.pin``).  The PIN is typed twice without
echo (or read from standard input when it is not a terminal, for provisioning scripts) and never
written anywhere.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from enrol.commands import EXIT_OK, EXIT_USAGE
from kiosk.i18n import _
from station.config import StationConfig
from station.pin import hash_pin


def register(subcommands: argparse._SubParsersAction) -> None:
    pin = subcommands.add_parser("pin", help=_("PINs of the officer and the technician"))
    actions = pin.add_subparsers(dest="pin_action", required=True)
    hashed = actions.add_parser("hash", help=_("print the hash of a PIN for [kiosk] officer_pin / technician_pin"))
    hashed.set_defaults(handler=_hash)


def _hash(_args: argparse.Namespace, _config: StationConfig) -> int:
    if sys.stdin.isatty():
        pin = getpass.getpass(_("PIN: "))
        if getpass.getpass(_("PIN again: ")) != pin:
            print(_("The two PINs differ."), file=sys.stderr)
            return EXIT_USAGE
    else:
        pin = sys.stdin.readline().strip()
    try:
        print(hash_pin(pin))
    except ValueError as error:
        print(_("Not a usable PIN: {error}").format(error=error), file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK
