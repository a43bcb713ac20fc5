"""The enrolment record: everything captured for one citizen, held in memory only.

It is sealed (``crypto``) before anything of it is written (ARCHITECTURE rule 2).  Producers:
``capture.document`` (IdentityDocument), ``capture.face`` (FaceSample), ``capture.finger``
(FingerSample, FingerException); the kiosk session fills it and hands it to the sealing step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from capture.document.identity import IdentityDocument
from capture.face.sample import FaceSample
from capture.finger.positions import FingerPosition
from capture.finger.tenprint import FingerException, FingerSample


@dataclass
class EnrolmentRecord:
    """One citizen's enrolment."""

    station_id: str
    operator_id: str
    packet_id: uuid.UUID = field(default_factory=uuid.uuid4)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    demographics: dict[str, str] = field(default_factory=dict)
    """The data the citizen confirmed (pre-filled from the chip where read)."""
    changed_from_chip: tuple[str, ...] = ()
    """Demographic fields whose confirmed value differs from the chip's."""
    document: IdentityDocument | None = None
    face: FaceSample | None = None
    fingers: dict[FingerPosition, FingerSample] = field(default_factory=dict)
    finger_exceptions: dict[FingerPosition, FingerException] = field(default_factory=dict)
