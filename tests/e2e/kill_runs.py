"""SIGKILL the station's sealing step and its uploader at random moments, run after run, then judge
what the registry and the officer are left with.  Shared by ``tests/e2e/test_failures.py`` (a
bounded number of kills) and ``bench/sigkill.py`` (hundreds), so that both judge alike.

Each run is one :mod:`station_worker` process enrolling one citizen (seal, receipt slip, handed-over
mark) and then uploading until nothing is pending.  Odd runs are killed after a random fraction (0.5
to 1.05) of an uninterrupted run's lifetime, so kills fall anywhere (mostly in the imports, also
inside sealing and during uploads); even runs within :data:`AFTER_SEALED_S` after the packet was
kept, between sealing and the receipt and early in the upload.  A last run, never killed, uploads
what is left.  The verdict:

* **lost**: reported sealed by a worker, missing from the outbox (goal: none);
* **duplicated**: stored at the receiver more than once, or stored without an outbox row (goal: none);
* **not handed over**: the packets on disk whose citizen saw no receipt, which the officer's screen
  lists; every packet whose worker never began the mark must be among them (**unlisted**: goal
  none), and none whose mark was reported done (**wrongly listed**: goal none).  A kill inside the
  mark may go either way.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

WORKER = Path(__file__).with_name("station_worker.py")
AFTER_SEALED_S = 0.03
"""Every other run is killed within this long after its packet was kept: before its receipt shows (a
few milliseconds in the worker; more in the kiosk, which builds a screen) or early in its upload,
moments that kills at random times seldom hit."""


@dataclass
class KillTally:
    """What the killed runs reported, in the words of :mod:`station_worker`."""

    runs: int = 0
    killed: int = 0
    killed_after_sealing: int = 0
    """Kills that came once the run's packet was reported kept (in the receipt step or the upload)."""
    sealed: set[str] = field(default_factory=set)
    handing: set[str] = field(default_factory=set)
    handed: set[str] = field(default_factory=set)
    lifetime_s: float = 0.0
    failures: list[str] = field(default_factory=list)
    """The last line of stderr of each run that ended by itself with an error (goal: none)."""


@dataclass(frozen=True)
class Verdict:
    packets: int
    acknowledged: int
    lost: frozenset[str]
    duplicated: int
    not_handed_over: frozenset[str]
    unlisted: frozenset[str]
    wrongly_listed: frozenset[str]
    officer_known: int
    """How many of the listed packets name their officer (not those whose row was rebuilt from the file)."""
    failures: tuple[str, ...] = ()
    """Runs that failed by themselves (not killed): what they said last."""

    @property
    def sound(self) -> bool:
        return not (self.lost or self.duplicated or self.unlisted or self.wrongly_listed or self.failures) \
            and self.acknowledged == self.packets


def _run(config_file: Path, citizens: int, *, after_s: float | None = None,
         after_sealed_s: float | None = None) -> tuple[bool, str, str | None]:
    """One worker, SIGKILLed (if still running) ``after_s`` after it started or ``after_sealed_s`` after
    it reported its packet kept; neither: run to the end.  (Whether it was killed, its output, and
    the last line of its stderr if it failed by itself.)"""
    worker = subprocess.Popen([sys.executable, str(WORKER), str(config_file), str(citizens)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    if after_sealed_s is not None:
        for line in worker.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if line.startswith("sealed "):
                time.sleep(after_sealed_s)
                break
    elif after_s is not None:
        time.sleep(after_s)
    killed = (after_s is not None or after_sealed_s is not None) and worker.poll() is None
    if killed:
        worker.send_signal(signal.SIGKILL)
    out, err = worker.communicate(timeout=120)
    failure = None
    if not killed and worker.returncode:
        failure = (err.strip().splitlines() or [f"exit status {worker.returncode}"])[-1]
    return killed, "".join(seen) + out, failure


def _said(out: str, word: str) -> list[str]:
    return [line.split()[1] for line in out.splitlines() if line.startswith(f"{word} ")]


def run_kills(config_file: Path, kills: int, seed: int,
              every_run: Callable[[KillTally], None] | None = None) -> KillTally:
    """Kill ``kills`` workers (at most ``3 * kills`` runs), then run one to the end."""
    rng = random.Random(seed)
    tally = KillTally()

    def note(killed: bool, out: str, failure: str | None) -> None:
        if failure is not None:
            tally.failures.append(failure)
        sealed = _said(out, "sealed")
        tally.killed += killed
        tally.killed_after_sealing += killed and bool(sealed)
        tally.sealed.update(sealed)
        tally.handing.update(_said(out, "handing"))
        tally.handed.update(_said(out, "handed"))

    start = time.monotonic()
    note(*_run(config_file, 1))  # how long a worker lives here: mostly imports, then ~50 ms of work
    tally.lifetime_s = time.monotonic() - start
    while tally.killed < kills and tally.runs < 3 * kills:
        tally.runs += 1
        if tally.runs % 2:
            note(*_run(config_file, 1, after_s=rng.uniform(0.5, 1.05) * tally.lifetime_s))
        else:
            note(*_run(config_file, 1, after_sealed_s=rng.uniform(0.0, AFTER_SEALED_S)))
        if every_run is not None:
            every_run(tally)
    _killed, out, _failure = _run(config_file, 0)
    if "done" not in out:
        raise RuntimeError(f"the last, unkilled run did not finish: {out[-500:]}")
    return tally


def judge(tally: KillTally, outbox: object, store: object) -> Verdict:
    """The verdict on ``outbox`` (the station's) and ``store`` (the receiver's packet store)."""
    from station.outbox.store import PacketState

    rows = outbox.list()  # type: ignore[attr-defined]
    ids = {row.packet_id for row in rows}
    stored = list(store.ids())  # type: ignore[attr-defined]
    files = [path for path in store.packets.rglob("*") if path.is_file()]  # type: ignore[attr-defined]
    duplicated = (len(stored) - len(set(stored))) + (len(files) - len(set(stored))) + len(set(stored) - ids)
    listed = {row.packet_id: row for row in outbox.not_handed_over()}  # type: ignore[attr-defined]
    never_began = ids - tally.handing
    return Verdict(
        packets=len(rows),
        acknowledged=sum(row.state is PacketState.ACKNOWLEDGED for row in rows),
        lost=frozenset(tally.sealed - ids),
        duplicated=duplicated,
        not_handed_over=frozenset(listed),
        unlisted=frozenset(never_began - set(listed)),
        wrongly_listed=frozenset(tally.handed & set(listed)),
        officer_known=sum(row.officer is not None for row in listed.values()),
        failures=tuple(tally.failures),
    )
