"""Checking a device section's settings, for every model registry (``drivers/*/models.py``).

A configuration says ``model = "..."`` plus that model's own settings; each registry names what its
model accepts, and this one check refuses missing and unknown keys by name, so that a typo in the
configuration file is an error that says which key and what is allowed, never a silent default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

_Factory = TypeVar("_Factory")


class SettingsError(ValueError):
    """A device's settings are missing, unknown or of the wrong type; the message names the key."""


def check_settings(settings: Mapping[str, Any], what: str, *, required: set[str] = frozenset(),
                   optional: set[str] = frozenset()) -> None:
    """Refuse ``settings`` of ``what`` (e.g. "scanner 'r30x'") that lack a required key or have an unknown one."""
    missing = sorted(required - set(settings))
    if missing:
        raise SettingsError(f"{what} needs the setting(s) {', '.join(missing)}")
    unknown = sorted(set(settings) - required - optional)
    if unknown:
        allowed = ", ".join(sorted(required | optional)) or "none"
        raise SettingsError(f"unknown setting(s) {', '.join(unknown)} for {what}; allowed: {allowed}")


def model_factory(registry: Mapping[str, _Factory], what: str, model: str) -> _Factory:
    """The factory of ``model`` in ``registry`` (model name -> factory), or a SettingsError listing the known ones."""
    try:
        return registry[model]
    except KeyError:
        raise SettingsError(f"unknown {what} model {model!r}; known: {', '.join(sorted(registry))}") from None
