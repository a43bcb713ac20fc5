"""The portrait kept for the enrolment record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from drivers.device import DeviceInfo


@dataclass(frozen=True)
class CheckOutcome:
    """One portrait check: what was measured, against which threshold, and the verdict.

    ``passed`` is None when the check could not be decided (e.g. no landmarks for the eyes): an
    undecided check never counts as passed.
    """

    name: str
    value: float | None
    threshold: str
    passed: bool | None
    detail: str = ""


@dataclass(frozen=True)
class FaceSample:
    """The accepted portrait: an ISO/IEC 19794-5 token frontal image, JPEG-encoded."""

    token_jpeg: bytes
    width: int
    height: int
    checks: tuple[CheckOutcome, ...]
    manual: bool
    """True when the officer pressed the capture button instead of the auto-capture deciding."""
    device: DeviceInfo
    captured_at: datetime
    extra: dict[str, object] = field(default_factory=dict)
