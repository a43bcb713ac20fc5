"""``enrol``: the station's command line.

Each subcommand lives in its own module of ``enrol.commands`` (listed in ``COMMANDS``) and
registers itself.  Exit status: 0 success; 1 a required device is missing or failing / an
operation on a device failed; 2 the configuration or the command line is wrong.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from drivers.settings import SettingsError
from enrol.commands import EXIT_USAGE
from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES, _, set_language
from station.config import ConfigError, load_config
from station.logs import setup_logging

COMMANDS = ("enrol.commands.diag", "enrol.commands.finger", "enrol.commands.keys", "enrol.commands.pki",
            "enrol.commands.outbox", "enrol.commands.receiver", "enrol.commands.face", "enrol.commands.card",
            "enrol.commands.kiosk", "enrol.commands.pin")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``enrol`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    set_language(_language(argv))
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(_("Configuration error: {error}").format(error=error), file=sys.stderr)
        return EXIT_USAGE
    quiet = getattr(args, "quiet", None)
    setup_logging(config, quiet=bool(quiet(args)) if callable(quiet) else False)
    try:
        return int(args.handler(args, config))
    except (ConfigError, SettingsError) as error:
        print(_("Configuration error: {error}").format(error=error), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _language(argv: list[str]) -> str:
    """The ``--lang`` choice, read before the parser is built so that its help is translated too."""
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv) and argv[index + 1] in LANGUAGES:
            return argv[index + 1]
        if arg.startswith("--lang=") and arg.split("=", 1)[1] in LANGUAGES:
            return arg.split("=", 1)[1]
    return DEFAULT_LANGUAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enrol", description=_("Identity-card enrolment station"))
    parser.add_argument("--config", type=Path, help=_("configuration file (TOML); none = simulated station"))
    parser.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help=_("language of messages"))
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(subcommands)
    return parser
