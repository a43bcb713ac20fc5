"""Extract every marked string (``_()`` / ``N_()``) and merge it into the vi and en catalogues.

Run after adding or changing user-visible text:  ``.venv/bin/python scripts/update_translations.py``.
New messages arrive with an empty translation; ``tests/kiosk/test_i18n.py`` fails until the
Vietnamese one is written.  Messages no longer in the code are dropped.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from kiosk.i18n import LANGUAGES, catalogue_path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("drivers", "capture", "packet", "crypto", "station", "kiosk", "enrol", "receiver")
KEYWORDS = {"_": None, "N_": None, "pgettext": ((1, "c"), 2), "NC_": ((1, "c"), 2)}
"""``pgettext`` / ``NC_`` take a gettext context first (a word with two meanings: ``kiosk.i18n``)."""


def extract() -> Catalog:
    """All marked messages of the product code, with where they occur."""
    template = Catalog(project="enrolment-station")
    for source in SOURCES:
        method_map = [("**.py", "python"), ("**.kv", "python")]
        for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT / source, method_map, keywords=KEYWORDS
        ):
            template.add(message, locations=[(f"{source}/{filename}", lineno)], context=context)
    return template


def merge(language: str, template: Catalog) -> int:
    """Bring one catalogue up to date; returns how many messages still lack a translation."""
    path = catalogue_path(language)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        with path.open("rb") as stream:
            catalogue = read_po(stream, locale=language)
    else:
        catalogue = Catalog(locale=language, project="enrolment-station")
    catalogue.update(template, no_fuzzy_matching=True, update_creation_date=False)
    catalogue.fuzzy = False
    catalogue.obsolete.clear()
    with path.open("wb") as stream:
        write_po(stream, catalogue, width=100, sort_output=True)
    return sum(1 for message in catalogue if message.id and not message.string)


def main() -> int:
    template = extract()
    for language in LANGUAGES:
        missing = merge(language, template)
        print(f"{language}: {len(template)} messages, {missing} without translation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
