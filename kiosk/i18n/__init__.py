"""Translation of every string a person reads (ARCHITECTURE rule 6).

Vietnamese is the default language and English the second.  Catalogues live next to this file as
``<lang>/LC_MESSAGES/enrolment.po``; message ids are the English text, so a missing translation
falls back to readable English rather than to a key.  Lower layers (drivers, capture) only *mark*
strings with ``N_`` and the kiosk translates them here, when they are displayed.
"""

from __future__ import annotations

import gettext
from pathlib import Path

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
    _current = gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True)


def _(message: str) -> str:
    """Translate ``message`` into the current language."""
    return _current.gettext(message)


def N_(message: str) -> str:
    """Mark ``message`` for extraction; it is translated later with :func:`_`."""
    return message
