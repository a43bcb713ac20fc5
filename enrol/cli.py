"""``enrol``: the station's command line.

Each subcommand lives in its own module of ``enrol.commands`` (listed in ``COMMANDS``) and
registers itself.  The exit statuses are those of ``enrol.commands`` (0 success, 1 a device or an
operation on it failed, 2 the configuration or the command line is wrong, 70 a bug, 74 a file or
folder that cannot be read or written).

No traceback reaches the person (ARCHITECTURE rule 9): :func:`main` is the one place where errors
become messages.  An error a person can act on is named with its cause; any other exception is
written with its traceback to the station's log file, and the person is told where that is.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from drivers.errors import ExplainedError
from drivers.settings import SettingsError
from enrol.arguments import CommandParser, common_options, speak_our_language
from enrol.commands import EXIT_DEVICE, EXIT_IO, EXIT_SOFTWARE, EXIT_USAGE, report_failure
from kiosk.i18n import DEFAULT_LANGUAGE, LANGUAGES, _, set_language
from receiver.config import ReceiverConfigError
from station.config import ConfigError, load_config
from station.logs import setup_logging

COMMANDS = ("enrol.commands.diag", "enrol.commands.finger", "enrol.commands.keys", "enrol.commands.pki",
            "enrol.commands.outbox", "enrol.commands.receiver", "enrol.commands.face", "enrol.commands.card",
            "enrol.commands.kiosk", "enrol.commands.pin")
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")
"""Where the language of messages is read from, in POSIX's order: the first one set decides."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: 128 + SIGINT, as a shell reports it."""

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``enrol`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    set_language(_language(argv, os.environ))
    speak_our_language()
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or argparse has said what is wrong with the command line
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    log_file: Path | None = None
    try:
        config = load_config(args.config)
        quiet = getattr(args, "quiet", None)
        log_file = setup_logging(config, quiet=bool(quiet(args)) if callable(quiet) else False)
        return int(args.handler(args, config))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 -- the one place where every error becomes a message
        return _explain(error, log_file)


def _explain(error: Exception, log_file: Path | None) -> int:
    """Print what went wrong for the person and return the exit status that says which kind of failure it was."""
    if isinstance(error, (ConfigError, SettingsError, ReceiverConfigError)):
        print(_("Configuration error: {error}").format(error=error), file=sys.stderr)
        return EXIT_USAGE
    if isinstance(error, ExplainedError):  # devices, the outbox, keys and certificates
        report_failure(_("Failed: {error}"), error)
        return EXIT_DEVICE
    if isinstance(error, OSError):
        print(_file_problem(error), file=sys.stderr)
        return EXIT_IO
    if log_file is None:  # logging to the console alone would show the person the traceback
        print(_("Something went wrong inside enrol, and no log file could be written to record it."),
              file=sys.stderr)
    else:
        log.error("unexpected error", exc_info=error)
        print(_("Something went wrong inside enrol; the details are in {path}.").format(path=log_file),
              file=sys.stderr)
    return EXIT_SOFTWARE


def _file_problem(error: OSError) -> str:
    """The file and the system's reason, which together say what to fix (``[Errno 13]`` alone does not)."""
    cause = error.strerror or str(error)
    if error.filename is None:
        return _("System error: {cause}").format(cause=cause)
    return _("Cannot use {path}: {cause}").format(path=error.filename, cause=cause)


def _language(argv: list[str], environ: Mapping[str, str]) -> str:
    """The language of messages, chosen before the parser is built so that its help is translated too:
    ``--lang`` wherever it is; else the locale of the environment (``vi_VN.UTF-8``, ``en_US.UTF-8``);
    else, and for a locale in neither language, Vietnamese."""
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv) and argv[index + 1] in LANGUAGES:
            return argv[index + 1]
        if arg.startswith("--lang=") and arg.split("=", 1)[1] in LANGUAGES:
            return arg.split("=", 1)[1]
    locale = next((environ[name] for name in LOCALE_VARIABLES if environ.get(name)), "")
    language = locale.split(".")[0].split("@")[0].split("_")[0].lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="enrol", description=_("Identity-card enrolment station"),
                                     parents=[common_options(None)])
    subcommands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
    for name in COMMANDS:
        importlib.import_module(name).register(subcommands)
    return parser
