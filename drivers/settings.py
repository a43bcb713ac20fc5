"""Checking a device section's settings, for every model registry (``drivers/*/models.py``).

A configuration says ``model = "..."`` plus that model's own settings.  Each model declares them as
a pydantic dataclass (strict types, ranges, unknown keys refused; see :data:`STRICT`), and
:func:`check_settings` reports every problem of a section at once, by key, in words a technician
can act on.  The configuration is checked when it is loaded (``station.config``), so that a typo or
an impossible value stops the station at start-up, never at the first citizen; the same check runs
again when a driver is made from settings that did not come from a file.

The settings classes hold only what was written: a key left out is ``None`` there and never passed
on, so each driver's own keyword defaults stay the one copy of the defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import AfterValidator, ConfigDict, ValidationError

STRICT = ConfigDict(extra="forbid", strict=True)
"""The pydantic configuration of every settings class: TOML's own types only (``"57600"`` is not a
number, ``"false"`` is not a boolean), unknown keys refused."""

_Driver = TypeVar("_Driver")


class SettingsError(ValueError):
    """A device's settings are missing, unknown or of the wrong type; the message names the key.

    ``problems`` lists each problem on its own (a configuration reports all of them together)."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


@dataclass(frozen=True)
class DeviceModel(Generic[_Driver]):
    """One model of a registry: the settings it accepts and how to make its (unopened) driver."""

    settings: type
    """A pydantic dataclass with :data:`STRICT`; its fields are the section's keys."""
    make: Callable[..., _Driver]
    """Called with the settings as keywords (only those given), plus what the registry passes."""


def one_of(choices: tuple[int, ...], meaning: str) -> AfterValidator:
    """A check that a number is one of ``choices`` (``meaning`` says which they are, for the message)."""
    def check(value: int) -> int:
        if value not in choices:
            raise ValueError(f"must be {meaning} ({', '.join(map(str, choices))}), not {value}")
        return value

    return AfterValidator(check)


def explain(error: ValidationError, where: str, schema: type | None = None) -> list[str]:
    """pydantic's findings as sentences naming the key, ``where`` first (e.g. "[devices.fingerprint]");
    an unknown key's sentence lists the keys of ``schema`` that are allowed."""
    allowed = ", ".join(field.name for field in dataclasses.fields(schema)) if schema else ""
    problems = []
    for item in error.errors():
        sentence = _sentence(item)
        if item["type"] == "unexpected_keyword_argument" and allowed:
            sentence += f"; allowed: {allowed}"
        problems.append(f"{' '.join(filter(None, (where, _key(item['loc']))))}: {sentence}")
    return problems


def _key(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location)


def _sentence(item: Mapping[str, Any]) -> str:
    """One finding in plain words; TOML spellings where pydantic speaks Python."""
    kind, given = item["type"], _shown(item.get("input"))
    if kind == "unexpected_keyword_argument":
        return "unknown key"
    if kind in ("missing", "missing_argument"):
        return "must be set"
    if kind == "bool_type":
        return f"must be true or false (without quotes), not {given}"
    if kind in ("int_type", "int_from_float"):
        return f"must be a whole number (without quotes), not {given}"
    if kind == "float_type":
        return f"must be a number (without quotes), not {given}"
    if kind in ("string_type", "path_type"):
        return f"must be {'a path' if kind == 'path_type' else 'a string'} in quotes, not {given}"
    message = str(item["msg"]).removeprefix("Value error, ")
    for noun in ("Input ", "String ", "Value "):
        message = message.removeprefix(noun)
    return message if kind == "value_error" else f"{message}, not {given}"


def _shown(value: Any) -> str:
    """A value as the message quotes it: short, so that a long text does not drown the message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_settings(schema: type, settings: Mapping[str, Any], what: str) -> dict[str, Any]:
    """``settings`` of ``what`` (e.g. "scanner 'r30x'") checked against ``schema``: the given keys with
    their checked values, or a SettingsError listing every problem and the allowed keys."""
    try:
        checked = schema(**settings)
    except ValidationError as error:
        problems = explain(error, what, schema)
        raise SettingsError("; ".join(problems), problems) from None
    return {key: getattr(checked, key) for key in settings}


def model_of(registry: Mapping[str, DeviceModel[_Driver]], what: str, model: str) -> DeviceModel[_Driver]:
    """The entry of ``model`` in ``registry``, or a SettingsError listing the known ones."""
    try:
        return registry[model]
    except KeyError:
        raise SettingsError(f"unknown {what} model {model!r}; known: {', '.join(sorted(registry))}") from None


def make_driver(registry: Mapping[str, DeviceModel[_Driver]], what: str, model: str, settings: Mapping[str, Any],
                *context: Any) -> _Driver:
    """An unopened driver of ``model`` from ``settings`` (checked first); ``context`` goes to ``make``
    before the settings (a USB backend, for the registries that look devices up)."""
    entry = model_of(registry, what, model)
    checked = check_settings(entry.settings, settings, f"{what} {model!r}")
    try:
        return entry.make(*context, **checked)
    except (TypeError, ValueError) as error:
        raise SettingsError(f"{what} {model!r}: {error}") from None
