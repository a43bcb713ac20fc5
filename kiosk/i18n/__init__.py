"""Translation of every string a person reads (ARCHITECTURE rule 6).

Vietnamese is the default language and English the second.  Catalogues live next to this file as
``<lang>/LC_MESSAGES/enrolment.po``; message ids are the English text, so a missing translation
falls back to readable English rather than to a key.  Lower layers (drivers, capture) only *mark*
strings with ``N_`` and the kiosk translates them here, when they are displayed.

The ``.po`` files are the only form kept in the repository: they are compiled in memory when a
language is chosen (Babel), so a compiled ``.mo`` can never be stale.  ``tests/kiosk/test_i18n.py``
checks that every marked string has a Vietnamese translation.

One English word can mean two things ("missing": a finger that is not there, a device that is not
connected), and Vietnamese says them differently.  Such words carry a gettext *context*
(``msgctxt``): :func:`pgettext` translates with one now, and a message marked with its context in
a lower layer (:func:`station.diagnostics.NC_`, which keeps the context on the message id) is
translated in it by :func:`_` wherever it is shown: ``_(STATUS_LABELS[status])`` is a device's word
on the technician's screen and in ``enrol diag`` alike.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from drivers.errors import N_ as N_  # the product's one marker, re-exported for the screens

DOMAIN = "enrolment"
LOCALE_DIR = Path(__file__).parent
DEFAULT_LANGUAGE = "vi"
LANGUAGES = ("vi", "en")

_current: gettext.NullTranslations = gettext.NullTranslations()


def set_language(language: str) -> None:
    """Switch the language of everything translated from now on (``"vi"`` or ``"en"``)."""
    global _current
    if language not in LANGUAGES:
        raise ValueError(f"unsupported language {language!r}; choose one of {', '.join(LANGUAGES)}")
    _current = catalogue(language)


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` (English text where it has no translation)."""
    path = catalogue_path(language)
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as stream:
        messages = read_po(stream, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _(message: str) -> str:
    """Translate ``message`` into the current language (in its context when it carries one)."""
    context = getattr(message, "context", None)
    return _current.gettext(message) if context is None else _current.pgettext(context, message)


def pgettext(context: str, message: str) -> str:
    """Translate ``message`` in ``context`` (gettext's ``msgctxt``): the meaning its English word has there."""
    return _current.pgettext(context, message)
