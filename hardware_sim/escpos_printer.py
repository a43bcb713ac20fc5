"""Wire-level simulator of an ESC/POS thermal receipt printer, served on a pty.

The driver opens the pty's slave path as it would open ``/dev/ttyUSB0``.  The simulator keeps every
byte it is sent (tests look for the commands in it: ``GS v 0`` raster image, ``GS ( k`` QR code,
``GS V`` cut) and answers the real-time status request ``DLE EOT n`` with one status byte, as
the ESC/POS command reference describes: n = 1 printer status (bit 3 = offline), n = 2 offline
cause (bit 2 = cover open), n = 3 error cause, n = 4 roll-paper sensor (bits 2-3 = near end,
bits 5-6 = paper end).  Bits 1 and 4 of every status byte are fixed at 1 (0x12 = all well).
"""

from __future__ import annotations

import os
import pty
import select
import threading
import tty

DLE_EOT = b"\x10\x04"
FIXED_BITS = 0x12


class SimulatedPrinter:
    """An ESC/POS printer at the far end of a pty; ``online`` and ``paper`` change what it reports."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.online = True
        self.paper = "ok"
        """"ok", "near end" or "out"."""
        self._master, self._slave = pty.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sim-printer", daemon=True)

    def __enter__(self) -> SimulatedPrinter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        os.close(self._master)
        os.close(self._slave)

    def status_byte(self, n: int) -> int:
        """The answer to ``DLE EOT n``."""
        if n == 1:
            return FIXED_BITS | (0 if self.online else 0x08)
        if n == 2:
            return FIXED_BITS | (0 if self.online else 0x04)
        if n == 4:
            return FIXED_BITS | {"ok": 0x00, "near end": 0x0C, "out": 0x60}[self.paper]
        return FIXED_BITS

    def _serve(self) -> None:
        pending = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return
            self.received.extend(chunk)
            pending += chunk
            while (index := pending.find(DLE_EOT)) >= 0 and len(pending) >= index + 3:
                os.write(self._master, bytes([self.status_byte(pending[index + 2])]))
                pending = pending[index + 3:]
            pending = pending[-2:]
