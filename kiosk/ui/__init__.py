"""The kiosk's Kivy screens: one ``.kv`` (layout) + one ``.py`` (behaviour) per screen, shared widgets,
and the app that ties them to the enrolment session (:mod:`kiosk.ui.app`).

Strings in ``.kv`` files are written ``_('text', app.lang)``: :func:`tr` ignores its second
argument, which is there so that Kivy re-evaluates the rule when the language property changes
(Kivy re-runs a rule when a property it reads changes), and so that the extraction script, which
reads ``.kv`` files with Babel's Python extractor, finds the message id as the first argument.
A word with two meanings is written ``pgettext('finger', 'missing', app.lang)`` (:func:`ptr`): its
context first, as in :func:`kiosk.i18n.pgettext`.
"""

from __future__ import annotations

from kiosk.i18n import _, pgettext


def tr(message: str, _language: str = "") -> str:
    """``_`` of the ``.kv`` files: translate ``message`` (``_language`` only ties the rule to ``app.lang``)."""
    return _(message)


def ptr(context: str, message: str, _language: str = "") -> str:
    """``pgettext`` of the ``.kv`` files: translate ``message`` in ``context``."""
    return pgettext(context, message)
