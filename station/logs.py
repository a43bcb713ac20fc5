"""Logging, set up once per process: a console for people, a rotating file for the record.

The console shows INFO and above (WARNING and above with ``quiet``), one line per record: a
traceback goes to the file only, since no traceback reaches a person (ARCHITECTURE rule 9).  The file keeps DEBUG,
including device traffic: drivers log each packet / USB transfer on ``<module>.traffic`` loggers,
so a technician can read what went over the wire when a field problem is reported, and the
``[logging] traffic = false`` setting can silence exactly those loggers.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from station.config import StationConfig

LOG_FILE_NAME = "station.log"
_FILE_BYTES = 5 * 1024 * 1024
_FILE_BACKUPS = 5
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class _TrafficFilter(logging.Filter):
    """Drops records of the ``*.traffic`` loggers."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.endswith(".traffic") or ".traffic." in record.name)


class _ConsoleFormatter(logging.Formatter):
    """One line per record: the record without its traceback or stack (the file keeps them)."""

    def format(self, record: logging.LogRecord) -> str:
        plain = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None})
        return super().format(plain)


class _Console(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the ``sys.stderr`` of the moment, not the one of its creation: one replaced since
    (a test's captured stream, closed when the test ends) would turn later records into
    "--- Logging error ---" reports."""

    @property  # type: ignore[override]
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _stream: object) -> None:
        """StreamHandler's constructor sets a stream: ignored, :attr:`stream` is always the current one."""


def setup_logging(config: StationConfig, *, quiet: bool = False) -> Path | None:
    """Install the console and file handlers on the root logger; return the log file's path.

    Calling it again replaces the handlers it installed before (tests and the CLI may both call
    it).  When the log directory cannot be created the station still runs, logging to the
    console only, and says so — a read-only disk must not stop a diagnosis.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_enrolment_station", False)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.DEBUG)

    console = _Console()
    console.setLevel(logging.WARNING if quiet else getattr(logging, config.log_level))
    console.setFormatter(_ConsoleFormatter("%(levelname)s %(name)s: %(message)s"))
    console.addFilter(_TrafficFilter())
    _install(root, console)

    log_file = config.log_dir / LOG_FILE_NAME
    try:
        config.log_dir.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            log_file, maxBytes=_FILE_BYTES, backupCount=_FILE_BACKUPS, encoding="utf-8"
        )
    except OSError as error:
        logging.getLogger(__name__).warning("cannot write the log file %s (%s); console only", log_file, error)
        return None
    file_handler.setLevel(logging.DEBUG)
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    if not config.log_traffic:
        file_handler.addFilter(_TrafficFilter())
    _install(root, file_handler)
    return log_file


def _install(root: logging.Logger, handler: logging.Handler) -> None:
    handler._enrolment_station = True  # type: ignore[attr-defined]
    root.addHandler(handler)
