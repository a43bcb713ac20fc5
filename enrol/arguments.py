"""What every ``enrol`` command line shares: the options taken before or after any sub-command, and the
argument types that refuse a bad value while parsing, so that it is named as the option's fault
(argparse's usage message, exit status 2) before any device is opened or any file written.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.i18n import LANGUAGES, N_, _

ARGPARSE_WORDS = (
    N_("usage: "), N_("%(prog)s: error: %(message)s\n"), N_("options"), N_("positional arguments"),
    N_("show this help message and exit"), N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"), N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("argument %(argument_name)s: %(message)s"), N_("expected one argument"),
    N_("invalid %(type)s value: %(value)r"), N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("not allowed with argument %s"), N_("one of the arguments %s is required"),
    N_("expected at least one argument"), N_("expected at most one argument"), N_("ignored explicit argument %r"),
)
"""argparse's own words that a person meets (its usage line, headings and errors; Python 3.11's
``Lib/argparse.py``), so that the catalogue has them: :func:`speak_our_language` makes argparse ask
the catalogue for them."""


def speak_our_language() -> None:
    """Make argparse translate its own words with the station's catalogue, in the language chosen.

    argparse translates through the name ``_`` it imported from :mod:`gettext` (a global looked up at
    each call), which reads gettext's global domain, not our catalogue; rebinding that one name is
    the whole change.  Words not in :data:`ARGPARSE_WORDS` stay English, as before."""
    argparse._ = _  # type: ignore[attr-defined]


def common_options(default: object) -> argparse.ArgumentParser:
    """The options every command takes, as a parent parser (``default``: what the top level sets when
    they are not given; :class:`CommandParser` gives them to every sub-command without one)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", type=Path, default=default, metavar="FILE",
                        help=_("configuration file (TOML); none = simulated station"))
    parent.add_argument("--lang", choices=LANGUAGES, default=default,
                        help=_("language of messages (default: from LANG, else Vietnamese)"))
    return parent


class CommandParser(argparse.ArgumentParser):
    """The parser of a sub-command, at any depth: it takes the common options too, so that
    ``enrol --config F outbox status`` and ``enrol outbox status --config F`` are the same command.

    Their default is ``argparse.SUPPRESS``: a sub-command that is not given one leaves the top level's
    value alone.  Nested sub-commands inherit the class (``add_subparsers`` makes parsers of the
    parent's type), so no command module has to ask for them.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["parents"] = [*kwargs.get("parents", ()), common_options(argparse.SUPPRESS)]
        super().__init__(*args, **kwargs)


def seconds(text: str) -> float:
    """A wait in seconds: a positive, finite number (a zero or negative timeout would never wait)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(_("{value} is not a number of seconds").format(value=text)) from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(_("{value}: give a number of seconds above 0").format(value=text))
    return value


def integer_in(low: int, high: int) -> Callable[[str], int]:
    """An integer from ``low`` to ``high``, written in decimal or with a 0x / 0o / 0b prefix."""
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(_("{value}: give a whole number from {low} to {high}").format(
                value=text, low=low, high=high))
        return value
    return parse


port = integer_in(1, 65535)
"""A TCP port number."""


def existing_folder(text: str) -> Path:
    """A folder that must already exist (to read from)."""
    path = Path(text)
    if not path.is_dir():
        reason = _("not a folder") if path.exists() else _("no such folder")
        raise argparse.ArgumentTypeError(f"{path}: {reason}")
    return path


def existing_file(text: str) -> Path:
    """A file that must already exist (to read from)."""
    path = Path(text)
    if not path.is_file():
        reason = _("not a file") if path.exists() else _("no such file")
        raise argparse.ArgumentTypeError(f"{path}: {reason}")
    return path


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """A file to write, of a format known by its suffix, in a folder that exists: checked before the
    capture, so that a mistyped name does not cost a citizen's or a tester's time."""
    def parse(text: str) -> Path:
        path = Path(text)
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(_("{path}: the file name must end in {suffixes}").format(
                path=path, suffixes=" / ".join(suffixes)))
        if not path.parent.is_dir():
            raise argparse.ArgumentTypeError(_("{path}: the folder {folder} does not exist").format(
                path=path, folder=path.parent))
        return path
    return parse
