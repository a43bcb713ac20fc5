"""The catalogues: up to date with the code (.py and .kv), every message translated into Vietnamese,
placeholders kept, and the language switch effective."""

from __future__ import annotations

import re
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from kiosk import i18n

SCRIPT = Path(__file__).parents[2] / "scripts" / "update_translations.py"


@pytest.fixture(scope="module")
def extracted() -> set[tuple[str, str | None]]:
    """Every (message id, context) the code marks."""
    spec = spec_from_file_location("update_translations", SCRIPT)
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return {(message.id, message.context) for message in module.extract() if message.id}


def _catalogue(language: str):
    with i18n.catalogue_path(language).open("rb") as stream:
        return read_po(stream, locale=language)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_catalogues_are_up_to_date_with_the_code(extracted, language):
    ids = {(message.id, message.context) for message in _catalogue(language) if message.id}
    assert not extracted - ids, f"not in {language}.po; run scripts/update_translations.py: {extracted - ids}"
    assert not ids - extracted, f"no longer in the code; run scripts/update_translations.py: {ids - extracted}"


def test_kv_files_are_extracted(extracted):
    assert ("Read the card", None) in extracted  # only written in kiosk/ui/identify.kv
    assert ("Are you still there?", None) in extracted  # kiosk/ui/widgets.kv
    assert ("missing", "finger") in extracted  # pgettext in kiosk/ui/fingers.kv


def test_every_message_has_a_vietnamese_translation(extracted):
    catalogue = _catalogue("vi")
    missing = sorted(m.id for m in catalogue if m.id and not (m.string or "").strip())
    assert not missing, f"{len(missing)} message(s) without a Vietnamese translation: {missing[:10]}"


def test_translations_keep_the_placeholders():
    for message in _catalogue("vi"):
        if message.id and message.string:
            wanted = sorted(re.findall(r"\{[^}]*\}", message.id))
            assert sorted(re.findall(r"\{[^}]*\}", message.string)) == wanted, message.id


def test_switching_language_switches_the_text():
    try:
        i18n.set_language("vi")
        assert i18n._("Start") == "Bắt đầu"
        i18n.set_language("en")
        assert i18n._("Start") == "Start"
    finally:
        i18n.set_language("vi")


FINGER_MISSING = "không có ngón"


def test_a_missing_device_is_not_a_missing_finger():
    """One English word, two meanings: a device that is not connected is not "a finger that is not
    there" (it was, on every device status).  The status keeps its context from station.diagnostics to
    wherever it is shown (the technician's screen, ``enrol diag``), and the finger's word is the finger's."""
    from station.diagnostics import STATUS_LABELS, Status

    try:
        i18n.set_language("vi")
        device = i18n._(STATUS_LABELS[Status.MISSING])
        assert device == "không tìm thấy" and FINGER_MISSING not in device
        assert i18n.pgettext("finger", "missing") == FINGER_MISSING
        i18n.set_language("en")
        assert i18n._(STATUS_LABELS[Status.MISSING]) == "missing" == i18n.pgettext("finger", "missing")
    finally:
        i18n.set_language("vi")


def test_every_device_status_has_its_own_context():
    """The short status words ("ok", "failed", "missing"...) are marked in the "device status" context,
    so no other use of the same English word can take their translation (or give them its own)."""
    from station.diagnostics import STATUS_LABELS

    assert {label.context for label in STATUS_LABELS.values()} == {"device status"}
    statuses = {m.id: m.string for m in _catalogue("vi") if m.context == "device status"}
    assert set(statuses) == set(STATUS_LABELS.values())
    assert FINGER_MISSING not in statuses.values()
