"""What the citizen is told: one short instruction, from the failing check that matters most.

Checks are ranked so that the instruction fixes the cause, not a symptom: nobody to photograph
first, then distance, position, light (a dark or burnt-out face also spoils the pose and eye
measurements), pose, then what the citizen can do little about (shadows, focus, background).
Messages are gettext ids marked with :func:`N_`; the kiosk translates them when it shows them.
"""

from __future__ import annotations

from capture.face.checks import Analysis
from drivers.errors import N_

PRIORITY: tuple[str, ...] = (
    "single_face", "inter_eye_distance", "head_size", "crop", "head_centred", "eye_line_height",
    "brightness", "under_exposure", "over_exposure", "roll", "yaw", "pitch", "occlusion", "eyes_open",
    "illumination_uniformity", "sharpness", "background_uniformity",
)
"""Check names, most important first."""

MESSAGES: dict[str, str] = {
    "no_face": N_("Please sit in front of the camera and look at it."),
    "one_person": N_("Only one person in front of the camera, please."),
    "move_closer": N_("Please move closer to the camera."),
    "move_back": N_("Please move back a little."),
    "move_left": N_("Please move a little to your left."),
    "move_right": N_("Please move a little to your right."),
    "sit_higher": N_("Please sit up straight; your face is too low."),
    "sit_lower": N_("Your face is too high; please sit a little lower."),
    "more_light": N_("More light is needed on your face."),
    "less_light": N_("There is too much light on your face."),
    "even_light": N_("The light on your face is uneven. Please face the light, or ask the officer."),
    "head_straight": N_("Please tilt your head less; keep it straight."),
    "look_straight": N_("Please look straight at the camera."),
    "chin_level": N_("Please keep your chin level."),
    "uncover_face": N_("Please remove anything that covers your face."),
    "eyes_open": N_("Please keep your eyes open."),
    "hold_still": N_("Please hold still."),
    "plain_background": N_("The background behind you is not plain. Please ask the officer."),
}
"""Advice keys (set by the checks) -> the instruction shown."""

READY = N_("Hold still, the photo is being taken.")


def guidance(analysis: Analysis) -> str:
    """The one instruction for this frame: the advice of the highest-priority check that did not
    pass, or :data:`READY` when every check passed."""
    for name in PRIORITY:
        key = analysis.advice.get(name)
        if key:
            return MESSAGES[key]
    return READY if analysis.passed else MESSAGES["look_straight"]
