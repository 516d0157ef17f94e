"""The catalogues cover every message of the code and templates, in French and in English.

babel's own extractor reads the Python modules and the Jinja templates (the same pass a
maintainer runs); any msgid missing from a catalogue, left untranslated or marked fuzzy fails,
and so does a committed .mo that no longer matches its .po.
"""

from __future__ import annotations

import pytest

from acquis.web import i18n


@pytest.fixture(scope="module")
def extracted() -> set[str]:
    return {str(m.id) for m in i18n.extract() if m.id}


def test_the_extractor_finds_messages_of_code_and_templates(extracted: set[str]) -> None:
    # A control: one message from a Python module, one from a template, one from the error pages.
    assert "Saved." in extracted
    assert "Test the connection" in extracted
    assert "Access denied" in extracted


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_message_is_translated(lang: str, extracted: set[str]) -> None:
    catalog = i18n.read(lang)
    translated = {str(m.id) for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(extracted - {str(m.id) for m in catalog if m.id})
    untranslated = sorted(extracted - translated)
    assert missing == [], f"not in {lang} catalogue: {missing}"
    assert untranslated == [], f"untranslated or fuzzy in {lang}: {untranslated}"


def test_french_catalogue_is_french(extracted: set[str]) -> None:
    catalog = i18n.read("fr")
    # Words and names may be spelt alike ("Administration", "OpenBadge Factory"); sentences may not.
    same = sorted(str(m.id) for m in catalog if m.id and m.string == m.id and len(str(m.id).split()) >= 3)
    assert same == [], f"French left as the English: {same}"


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_committed_mo_matches_the_po(lang: str) -> None:
    mo = i18n.po_path(lang).with_suffix(".mo")
    assert mo.read_bytes() == i18n.compiled(lang), "run: python -m acquis.web.i18n compile"


def test_placeholders_survive_translation() -> None:
    import re

    names = re.compile(r"%\((\w+)\)s")
    for m in i18n.read("fr"):
        if m.id:
            assert set(names.findall(str(m.id))) == set(names.findall(str(m.string))), m.id
