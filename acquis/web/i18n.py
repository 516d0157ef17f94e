"""French and English for every page (Flask-Babel): French by default, English when asked.

The language of a page follows, in order: the LTI launch's ``launch_presentation.locale`` (kept
in the acquis session that ``lti_required`` puts in ``g.lti``), a local administrator's
browser (``Accept-Language``), then French. Error pages shown before any launch is verified
cannot know the user's language and say both (``both``).

Messages are written in English in the code (``_`` for a string needed now, ``_l`` for one
defined at import time) and translated in ``acquis/translations/<lang>/LC_MESSAGES/messages.po``;
the compiled ``.mo`` files are committed beside them (``python -m acquis.web.i18n compile``),
so that ``pip install -e .`` and a wheel both carry them, and a test checks they are current.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import flask_babel
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, has_request_context, request

LANGUAGES = ("fr", "en")
DEFAULT = "fr"
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
PACKAGE = TRANSLATIONS.parent
# ``both`` and ``_title`` (acquis/lti/pages.py) translate their first argument into both languages.
KEYWORDS = {"_": None, "_l": None, "gettext": None, "lazy_gettext": None, "both": None, "_title": None}
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def _(message: str, **variables: Any) -> str:
    return str(flask_babel.gettext(message, **variables))


def _l(message: str) -> Any:
    """A message translated when it is shown (for dicts and constants built at import time)."""
    return flask_babel.lazy_gettext(message)


def lang_of(locale: str | None) -> str:
    """The language acquis speaks for a BCP 47 / POSIX locale ("en-GB", "fr_FR", "de")."""
    return "en" if (locale or "").lower().startswith("en") else DEFAULT


def select_locale() -> str:
    lti = g.get("lti")
    if lti is not None:
        return lang_of(lti.locale)
    admin = g.get("admin")
    if admin is not None and admin.locale:
        return lang_of(admin.locale)
    if has_request_context():
        return request.accept_languages.best_match(LANGUAGES) or DEFAULT
    return DEFAULT


def current_lang() -> str:
    return str(flask_babel.get_locale() or DEFAULT)


def both(message: Any, **variables: Any) -> tuple[str, str]:
    """The French and English of one message (an English string or an ``_l`` one), for pages
    that must speak both."""
    said: list[str] = []
    for lang in ("fr", "en"):
        with flask_babel.force_locale(lang):
            said.append(_(message, **variables) if isinstance(message, str) else str(message))
    return said[0], said[1]


def init_app(app: Flask) -> None:
    flask_babel.Babel(
        app,
        default_locale=DEFAULT,
        default_translation_directories=str(TRANSLATIONS),
        locale_selector=select_locale,
    )


# ---- catalogue maintenance (and the test that checks them) -----------------------------------
def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def extract() -> Catalog:
    """Every message of the templates and the Python code, as babel's extractor sees it."""
    catalog = Catalog(domain="messages")
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(PACKAGE), METHOD_MAP, keywords=KEYWORDS, options_map={"**/templates/**.html": {}}
    ):
        if "/translations/" in filename or filename.startswith("translations/"):
            continue
        catalog.add(message, None, [(filename, lineno)], context=context)
    return catalog


def read(lang: str) -> Catalog:
    with po_path(lang).open("rb") as fh:
        return read_po(fh, locale=lang)


def compiled(lang: str) -> bytes:
    import io

    out = io.BytesIO()
    write_mo(out, read(lang), use_fuzzy=False)
    return out.getvalue()


def compile_all() -> None:
    for lang in LANGUAGES:
        po_path(lang).with_suffix(".mo").write_bytes(compiled(lang))


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    if sys.argv[1:] != ["compile"]:
        raise SystemExit("usage: python -m acquis.web.i18n compile")
    compile_all()
