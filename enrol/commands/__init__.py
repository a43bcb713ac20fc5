"""The subcommands of ``enrol``, one module each; every module has ``register(subcommands)``.

A handler takes the parsed arguments and the station configuration and returns the exit status.
It may also raise: ``enrol.cli.main`` turns the errors a person can act on into a message and one of
the statuses below, and any other exception into :data:`EXIT_SOFTWARE` with its traceback in the log.
The codes above 2 are those of sysexits.h (BSD, also used by sendmail and postfix), so that scripts
can tell a broken disk or a bug from a wrong command line.
"""

from __future__ import annotations

import sys

from drivers.errors import ExplainedError
from kiosk.i18n import _

EXIT_OK = 0
EXIT_DEVICE = 1
"""A required device is missing or failing, or the operation on a device failed."""
EXIT_USAGE = 2
"""The configuration or the command line is wrong."""
EXIT_SOFTWARE = 70
"""An unexpected error, a bug (sysexits.h EX_SOFTWARE): the traceback is in the station's log file."""
EXIT_IO = 74
"""A file or folder the command needs could not be read or written (sysexits.h EX_IOERR): permissions,
a read-only or full disk, a folder where a file should be."""


def report_failure(summary: str, error: BaseException) -> None:
    """Print a failed device operation for the technician: what failed, why, and the driver's hint.

    ``summary`` is a translated sentence with an ``{error}`` placeholder.
    """
    print(summary.format(error=error), file=sys.stderr)
    hint = error.technician_hint if isinstance(error, ExplainedError) else ""
    if hint:
        print("  " + _("Hint: {hint}").format(hint=hint), file=sys.stderr)
