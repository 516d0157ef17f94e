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


def translate(text: str | None) -> str:
    """Jinja's ``translate`` filter: a text known only at run time (an adapter's label), as
    plain text that the template escapes, unlike ``_()`` whose result Jinja trusts as markup."""
    return str(flask_babel.gettext(text)) if text else ""


def init_app(app: Flask) -> None:
    flask_babel.Babel(
        app,
        default_locale=DEFAULT,
        default_translation_directories=str(TRANSLATIONS),
        locale_selector=select_locale,
    )
    app.jinja_env.filters["translate"] = translate


# ---- catalogue maintenance (and the test that checks them) -----------------------------------
def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def adapter_texts() -> dict[str, list[str]]:
    """What the installed adapters declare about themselves and the console shows: title,
    description, setting labels and help (translated through the ``translate`` filter)."""
    from acquis.core.plugins import PluginHost

    host = PluginHost()
    texts: dict[str, list[str]] = {}
    for name in host.names:
        spec = host.spec(name)
        for text in (spec.title, spec.description, *(t for f in spec.settings for t in (f.label, f.help))):
            if text:
                texts.setdefault(text, []).append(name)
    return texts


def extract() -> Catalog:
    """Every message of the templates and the Python code, as babel's extractor sees it, and
    the texts of the installed adapters."""
    catalog = Catalog(domain="messages")
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(PACKAGE), METHOD_MAP, keywords=KEYWORDS, options_map={"**/templates/**.html": {}}
    ):
        if "/translations/" in filename or filename.startswith("translations/"):
            continue
        catalog.add(message, None, [(filename, lineno)], context=context)
    for text, names in adapter_texts().items():
        if text not in catalog:
            catalog.add(text, None, [(f"adapter:{name}", 0) for name in names])
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


def update() -> dict[str, list[str]]:
    """Bring both catalogues in line with the code: keep translations, add new messages (the
    English catalogue translates each to itself; French ones are left empty for a translator),
    drop messages no longer used. Returns the messages each language still lacks."""
    from babel.messages.pofile import write_po

    template = extract()
    lacking: dict[str, list[str]] = {}
    for lang in LANGUAGES:
        old = read(lang) if po_path(lang).exists() else Catalog(locale=lang)
        fresh = Catalog(
            locale=lang,
            domain="messages",
            project="acquis",
            version="0.1.0",
            copyright_holder="acquis contributors",
            fuzzy=False,
        )
        for message in template:
            if not message.id:
                continue
            known = old.get(message.id)
            string = known.string if known is not None and not known.fuzzy else ""
            if lang == "en" and not string:
                string = message.id
            fresh.add(message.id, string, locations=message.locations)
            if not string:
                lacking.setdefault(lang, []).append(str(message.id))
        po_path(lang).parent.mkdir(parents=True, exist_ok=True)
        with po_path(lang).open("wb") as fh:
            write_po(fh, fresh, width=100, sort_output=True, omit_header=False)
    return lacking


if __name__ == "__main__":  # pragma: no cover - a maintainer's commands
    if sys.argv[1:] == ["update"]:
        for lang, missing in update().items():
            print(f"{lang}: {len(missing)} message(s) to translate", *missing, sep="\n  ")
    elif sys.argv[1:] == ["compile"]:
        compile_all()
    else:
        raise SystemExit("usage: python -m acquis.web.i18n update|compile")
