"""Finger positions and the reasons a finger cannot be printed.

Position codes are those of ISO/IEC 19794-4 and ANSI/NIST-ITL 1-2011 (Table 8, "Friction ridge
position code"): 1 right thumb ... 5 right little, 6 left thumb ... 10 left little.
"""

from __future__ import annotations

import enum

from drivers.errors import N_


class FingerPosition(enum.IntEnum):
    """A finger, by its ISO/IEC 19794-4 / ANSI/NIST-ITL position code."""

    RIGHT_THUMB = 1
    RIGHT_INDEX = 2
    RIGHT_MIDDLE = 3
    RIGHT_RING = 4
    RIGHT_LITTLE = 5
    LEFT_THUMB = 6
    LEFT_INDEX = 7
    LEFT_MIDDLE = 8
    LEFT_RING = 9
    LEFT_LITTLE = 10

    @property
    def label(self) -> str:
        """The finger's name for the citizen (gettext message id)."""
        return _LABELS[self]

    @property
    def is_thumb(self) -> bool:
        return self in (FingerPosition.RIGHT_THUMB, FingerPosition.LEFT_THUMB)


_LABELS = {
    FingerPosition.RIGHT_THUMB: N_("right thumb"),
    FingerPosition.RIGHT_INDEX: N_("right index finger"),
    FingerPosition.RIGHT_MIDDLE: N_("right middle finger"),
    FingerPosition.RIGHT_RING: N_("right ring finger"),
    FingerPosition.RIGHT_LITTLE: N_("right little finger"),
    FingerPosition.LEFT_THUMB: N_("left thumb"),
    FingerPosition.LEFT_INDEX: N_("left index finger"),
    FingerPosition.LEFT_MIDDLE: N_("left middle finger"),
    FingerPosition.LEFT_RING: N_("left ring finger"),
    FingerPosition.LEFT_LITTLE: N_("left little finger"),
}


class ExceptionReason(enum.Enum):
    """Why an officer declared that a finger cannot be printed.

    ``ansi_code`` is the ANSI/NIST-ITL 1-2011 amputated-or-bandaged code (field 14.018):
    ``XX`` amputation (the finger is not there), ``UP`` unable to print (it is there but cannot
    give a usable print).
    """

    MISSING = ("missing", "XX", N_("missing"))
    AMPUTATED = ("amputated", "XX", N_("amputated"))
    BANDAGED = ("bandaged", "UP", N_("bandaged"))
    UNUSABLE = ("unusable", "UP", N_("unusable (scarred or worn)"))

    def __init__(self, code: str, ansi_code: str, label: str) -> None:
        self.code = code
        self.ansi_code = ansi_code
        self.label = label
