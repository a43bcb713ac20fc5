"""Connects a simulated chip to vsmartcard's virtual reader (vpcd), so that pcscd - and everything
above it, pyscard included - sees a card in the reader "Virtual PCD 00 00".

The vicc side of the vpcd protocol (vsmartcard documentation, "Creating a virtual smart card";
facts in shared/reference/icao9303-and-cccd.md): the card is a TCP *client* of vpcd (port 35963
for the first reader by default).  Every message in both directions is a 2-byte big-endian length
and a payload.  A 1-byte payload from vpcd is a control code - 0 power off, 1 power on, 2 reset
(no answer to any of these), 4 get ATR (answered with the ATR) - anything longer is a command APDU,
answered with the response APDU.  Being connected is being inserted: closing the connection takes
the card out of the reader.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from hardware_sim.emrtd import EmrtdChip

log = logging.getLogger(__name__)

DEFAULT_PORT = 35963
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4


class VirtualCard:
    """``chip`` in vpcd's reader while :meth:`insert` holds; faults: :meth:`remove` (now, or after a
    number of APDUs) and the chip's own (garbage replies, ``busy_s``)."""

    def __init__(self, chip: EmrtdChip, *, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.chip = chip
        self.host = host
        self.port = port
        self.apdus = 0
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._remove_after: int | None = None
        self._lock = threading.Lock()

    def insert(self, *, timeout: float = 10.0) -> VirtualCard:
        """Connect to vpcd (retrying until it listens, up to ``timeout`` seconds) and serve it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = socket.create_connection((self.host, self.port), timeout=1.0)
                break
            except OSError as error:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"vpcd does not listen on {self.host}:{self.port}: {error}") from error
                time.sleep(0.05)
        connection.settimeout(None)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._socket, self._remove_after = connection, None
        self._thread = threading.Thread(target=self._serve, args=(connection,), daemon=True, name="vicc")
        self._thread.start()
        return self

    def remove(self, *, after_apdus: int | None = None) -> None:
        """Take the card out now (close the connection), or once ``after_apdus`` more APDUs came."""
        with self._lock:
            if after_apdus is not None:
                self._remove_after = after_apdus
                return
            connection, self._socket = self._socket, None
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _serve(self, connection: socket.socket) -> None:
        try:
            while True:
                header = _receive(connection, 2)
                if header is None:
                    return
                payload = _receive(connection, int.from_bytes(header, "big"))
                if payload is None:
                    return
                answer = self._answer(payload)
                if answer is None and self._socket is not connection:
                    return  # removed mid-command: the reader sees the card vanish
                if answer is not None:
                    connection.sendall(len(answer).to_bytes(2, "big") + answer)
        except OSError as error:
            log.debug("vicc connection ended: %s", error)

    def _answer(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            code = payload[0]
            if code in (POWER_ON, RESET):
                self.chip.reset()
            elif code == GET_ATR:
                return self.chip.atr
            return None
        with self._lock:
            if self._remove_after is not None:
                if self._remove_after == 0:
                    self._remove_after = None
                    connection, self._socket = self._socket, None
                    if connection is not None:
                        connection.shutdown(socket.SHUT_RDWR)
                    return None
                self._remove_after -= 1
        self.apdus += 1
        response = self.chip.process(payload)
        if self.chip.busy_s:
            time.sleep(self.chip.busy_s)
        return response


def _receive(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        # vpcd writes the length and the payload separately; acknowledging at once keeps its
        # Nagle algorithm from holding the payload back for our delayed ACK (~40 ms a message).
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
