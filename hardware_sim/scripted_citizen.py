"""A scripted citizen for the ten-print session: places the finger asked for, or a wrong one.

The citizen reacts to the session's events the way a person at the kiosk does: on a prompt it puts
a finger on the scanner; once the attempt is judged it lifts it.  ``mistakes`` scripts the common
errors: for a position, the finger put down instead on the first attempt(s) — the same finger
twice is what the sequence check must catch — and ``impressions`` the way a finger is put down
(dry, light, off-centre) per position and attempt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hardware_sim.simulated_station import ScannerName, SimulatedStation


@dataclass
class ScriptedCitizen:
    """Answers ten-print prompts on a simulated station."""

    station: SimulatedStation
    seed: int
    scanner: ScannerName = "r30x"
    mistakes: Mapping[int, Sequence[int]] = field(default_factory=dict)
    """position -> the fingers presented instead on its first attempts (then the right one)."""
    impressions: Mapping[int, Sequence[Mapping[str, float]]] = field(default_factory=dict)
    """position -> impression parameters per attempt (the last one repeats)."""
    presented: list[tuple[int, int]] = field(default_factory=list)
    """(asked position, presented position) in order, for the test to check."""

    def on_event(self, event: Any) -> None:
        """Listener for ``TenPrintSession``: place on a prompt, lift after a result."""
        kind = type(event).__name__
        if kind == "Prompt":
            self.present(int(event.position), event.attempt)
        elif kind in ("AttemptResult", "Forced"):
            self.station.lift_finger(self.scanner)

    def present(self, position: int, attempt: int) -> None:
        wrong = self.mistakes.get(position, ())
        finger = wrong[attempt - 1] if attempt <= len(wrong) else position
        styles = self.impressions.get(position, ())
        style = dict(styles[min(attempt, len(styles)) - 1]) if styles else {}
        style.setdefault("attempt", attempt)
        self.station.present_finger(self.seed, finger, self.scanner, **style)
        self.presented.append((position, finger))
