"""The subcommands of ``enrol``, one module each; every module has ``register(subcommands)``.

A handler takes the parsed arguments and the station configuration and returns the exit status.
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


def report_failure(summary: str, error: BaseException) -> None:
    """Print a failed device operation for the technician: what failed, why, and the driver's hint.

    ``summary`` is a translated sentence with an ``{error}`` placeholder.
    """
    print(summary.format(error=error), file=sys.stderr)
    hint = error.technician_hint if isinstance(error, ExplainedError) else ""
    if hint:
        print("  " + _("Hint: {hint}").format(hint=hint), file=sys.stderr)
