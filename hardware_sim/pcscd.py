"""A private pcscd (pcsc-lite's daemon) with vsmartcard's vpcd reader driver, for tests and
benches that need the real PC/SC stack: pyscard -> libpcsclite -> pcscd -> vpcd -> a virtual card
(hardware_sim.vpcd, or vsmartcard's own vicc in tests/peers) on a TCP port.

The daemon runs in the foreground with a reader configuration of its own (vpcd on a free port,
two readers: "Virtual PCD 00 00" on the port, "Virtual PCD 00 01" on the port + 1), so it needs
no daemon beforehand and never touches a system one's readers.  pcscd's client socket is fixed
(/run/pcscd/pcscd.comm), so only one pcscd can run: a stale one left by an earlier run (its owner
process gone) is stopped; one that belongs to a live run is waited for; any other pcscd is
reported, not killed.

pcsc-lite writes its pid file as the number, a newline and a NUL byte (``NNNN\\n\\0``), which
:func:`running_pcscd` reads.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PID_FILE = Path("/run/pcscd/pcscd.pid")
MARKER = "enrolment-pcscd-"
VPCD_DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")


class PcscdUnavailable(RuntimeError):
    """pcscd or vpcd is missing, another pcscd is in the way, or the daemon did not come up."""


def parse_pid_file(text: str) -> int | None:
    """The pid in pcscd's pid file (``NNNN\\n\\0`` as pcsc-lite writes it), None if there is none."""
    try:
        return int(text.strip().strip("\0").strip())
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pcscd(pid_file: Path = PID_FILE) -> tuple[int, str] | None:
    """(pid, command line) of the pcscd that owns the socket, if one runs."""
    try:
        pid = parse_pid_file(pid_file.read_text(errors="replace"))
    except OSError:
        return None
    if pid is None:
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return (pid, command) if "pcscd" in command else None


def _clear_the_way(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (running := running_pcscd()) is not None:
        pid, command = running
        owner = command.split(MARKER, 1)[1].split("-", 1)[0] if MARKER in command else None
        if owner is None:
            raise PcscdUnavailable(f"a pcscd not started by these tests runs (pid {pid}: {command}); stop it "
                                   "(systemctl stop pcscd.socket pcscd) to run the PC/SC tests")
        if not _alive(int(owner)):
            os.kill(pid, signal.SIGTERM)  # stale: its run is gone
        elif time.monotonic() > deadline:
            raise PcscdUnavailable(f"another run's pcscd (pid {pid}) did not finish within {timeout:g} s")
        time.sleep(0.2)


def _free_port_pair() -> int:
    """A port p with p and p + 1 free (vpcd listens on one port per reader, two readers)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as second:
                second.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise PcscdUnavailable("no two consecutive free ports")


def _reader_listed(name: str) -> bool:
    from smartcard import scard  # pyscard: only the readiness check needs it

    result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if result != scard.SCARD_S_SUCCESS:
        return False
    try:
        result, readers = scard.SCardListReaders(context, [])
        return result == scard.SCARD_S_SUCCESS and name in readers
    finally:
        scard.SCardReleaseContext(context)


class PrivatePcscd:
    """``with PrivatePcscd() as daemon:`` - ``daemon.port`` is vpcd's first reader's port."""

    def __init__(self, *, wait_for_others_s: float = 60.0) -> None:
        self.wait_for_others_s = wait_for_others_s
        self.port = 0
        self._daemon: subprocess.Popen | None = None
        self._directory: Path | None = None

    def start(self) -> PrivatePcscd:
        if shutil.which("pcscd") is None or not VPCD_DRIVER.exists():
            raise PcscdUnavailable("pcscd and vsmartcard-vpcd are needed (scripts/setup.sh installs them)")
        _clear_the_way(self.wait_for_others_s)
        self._directory = Path(tempfile.mkdtemp(prefix=f"{MARKER}{os.getpid()}-"))
        self.port = _free_port_pair()
        config = self._directory / "reader.conf.d"
        config.mkdir()
        (config / "vpcd").write_text(f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME /dev/null:0x{self.port:04X}\n'
                                     f"LIBPATH {VPCD_DRIVER}\nCHANNELID 0x{self.port:04X}\n")
        log_path = self._directory / "pcscd.log"
        with log_path.open("w") as log:
            self._daemon = subprocess.Popen(["pcscd", "--foreground", "--config", str(config), "--auto-exit"],
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 15
        while not _reader_listed(READERS[0]):
            if self._daemon.poll() is not None:
                message = f"pcscd exited ({self._daemon.returncode}): {log_path.read_text()[-2000:]}"
                self.stop()
                raise PcscdUnavailable(message)
            if time.monotonic() > deadline:
                self.stop()
                raise PcscdUnavailable("pcscd did not list the vpcd reader within 15 s")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._daemon is not None:
            self._daemon.terminate()
            try:
                self._daemon.wait(10)
            except subprocess.TimeoutExpired:
                self._daemon.kill()
                self._daemon.wait()
            self._daemon = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> PrivatePcscd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
