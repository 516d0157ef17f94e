"""A page in one language shows none of the other language's interface strings."""

from __future__ import annotations

import html
import re
from functools import cache

from acquis.web import i18n


@cache
def _sentences() -> dict[str, list[str]]:
    """Per language, the catalogue's sentences that differ from the other language's."""
    pairs = [(str(m.id), str(m.string)) for m in i18n.read("fr") if m.id and m.string != m.id]
    # Only sentences: a word or a short label may well occur inside other text.
    pairs = [(en, fr) for en, fr in pairs if " " in en and len(en) >= 12 and "%(" not in en]
    return {"en": [en for en, _ in pairs], "fr": [fr for _, fr in pairs]}


def foreign_strings(page: str, lang: str) -> list[str]:
    """The other language's sentences found in ``page`` (its text, tags removed)."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    text = re.sub(r"\s+", " ", text)
    other = "fr" if lang == "en" else "en"
    return [s for s in _sentences()[other] if s in text]
