"""What of a device's traffic may be logged: protocol headers and sizes, never the citizen's data.

Drivers log their traffic at DEBUG on ``<module>.traffic`` loggers, and the station keeps it in its
rotating log file so that a technician can see what went over the wire.  But fingerprint image
packets are biometric data, and the data fields of card APDUs carry the chip's files under BAC
secure messaging, whose keys come from the low-entropy MRZ and can be guessed offline from a
recorded exchange (ICAO Doc 9303-11, 4.3, notes BAC's limited entropy).  Logging either would put
the citizen's data on disk, against ARCHITECTURE rule 2.  So traffic is logged as its first bytes
(the header that says what the message is) and trailing status, with the length of what was left
out.  ``tests/drivers/test_traffic_privacy.py`` holds every driver to it.
"""

from __future__ import annotations

MAX_LOGGED_BYTES = 32
"""No traffic log line carries more than this many bytes of a message."""


def summary(data: bytes, *, head: int, tail: int = 0) -> str:
    """``data`` as hex: its first ``head`` and last ``tail`` bytes, and how many were left out."""
    if head + tail > MAX_LOGGED_BYTES:
        raise ValueError(f"at most {MAX_LOGGED_BYTES} bytes of traffic may be logged")
    if len(data) <= head + tail:
        return data.hex(" ")
    left_out = len(data) - head - tail
    text = f"{data[:head].hex(' ')} ..({left_out} bytes not logged).."
    return f"{text} {data[-tail:].hex(' ')}" if tail else text
