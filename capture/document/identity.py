"""What the station learnt about the citizen's identity from their card (or the officer's entry)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class DocumentSource(enum.StrEnum):
    CHIP = "chip"
    """Read from the card's chip (ICAO 9303 LDS), with passive authentication."""
    MANUAL = "manual"
    """Entered by the officer for a citizen without a chip card; only the ID number's rules checked."""


@dataclass(frozen=True)
class VerificationStep:
    """One step of a document check (e.g. "SOD signature", "DG2 hash") and its outcome."""

    name: str
    passed: bool | None
    """None when the step could not be performed; that never reads as verified."""
    detail: str = ""


@dataclass(frozen=True)
class IdentityDocument:
    """The citizen's identity as read or entered, with the evidence for it."""

    personal_id: str
    """The 12-digit Vietnamese personal identification number."""
    source: DocumentSource
    demographics: dict[str, str]
    """Citizen fields (DG13 names: full_name, date_of_birth, sex, nationality, ethnicity, ...)."""
    read_at: datetime
    mrz: str | None = None
    data_groups: dict[str, bytes] = field(default_factory=dict)
    """Raw files as read from the chip: "COM", "DG1", "DG2", "DG13", "SOD", ..."""
    portrait_jpeg: bytes | None = None
    """The chip's DG2 portrait, re-encoded as JPEG if it was JPEG 2000."""
    verification: tuple[VerificationStep, ...] = ()
    data_groups_present: tuple[str, ...] = ()
    """The data groups the chip lists in EF.COM; DG15 there means Active Authentication (proof the
    chip is not a copy), which the reader runs; DG14 means Chip Authentication, which it does not yet."""

    @property
    def verified(self) -> bool:
        """True only when every verification step ran and passed."""
        return bool(self.verification) and all(step.passed is True for step in self.verification)
