"""The subcommands of ``enrol``, one module each; every module has ``register(subcommands)``.

A handler takes the parsed arguments and the station configuration and returns the exit status.
"""

EXIT_OK = 0
EXIT_DEVICE = 1
"""A required device is missing or failing, or the operation on a device failed."""
EXIT_USAGE = 2
"""The configuration or the command line is wrong."""
