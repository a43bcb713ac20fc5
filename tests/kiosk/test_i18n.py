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
def extracted() -> set[str]:
    spec = spec_from_file_location("update_translations", SCRIPT)
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return {message.id for message in module.extract() if message.id}


def _catalogue(language: str):
    with i18n.catalogue_path(language).open("rb") as stream:
        return read_po(stream, locale=language)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_catalogues_are_up_to_date_with_the_code(extracted, language):
    ids = {message.id for message in _catalogue(language) if message.id}
    assert not extracted - ids, f"not in {language}.po; run scripts/update_translations.py: {extracted - ids}"
    assert not ids - extracted, f"no longer in the code; run scripts/update_translations.py: {ids - extracted}"


def test_kv_files_are_extracted(extracted):
    assert "Read the card" in extracted  # only written in kiosk/ui/identify.kv
    assert "Are you still there?" in extracted  # kiosk/ui/widgets.kv


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
