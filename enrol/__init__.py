"""The ``enrol`` command: argument parsing and output only; the work is done by the layers below."""
