"""Round trips over generated frameworks: writing a definition to CASE or Moodle CSV and reading it
back gives the same definition (in normal form), whatever the tree, texts and scale."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from acquis.core import frameworks
from acquis.core.interchange.case import definition_to_case, parse_case
from acquis.core.interchange.definition import export_scale
from acquis.core.interchange.moodle_csv import definition_to_csv, read_moodle_csv

CODE = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,8}", fullmatch=True)
# Texts as import_definition keeps them: stripped, with any printable character, accents and newlines.
TEXT = (
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85")
        | st.just("\n"),
        min_size=1,
        max_size=20,
    )
    .map(str.strip)
    .filter(bool)
)
LABEL = TEXT.filter(lambda t: "," not in t and "\n" not in t)


@st.composite
def scales(draw: st.DrawFn) -> Any:
    labels = draw(st.lists(LABEL, min_size=1, max_size=6, unique_by=frameworks.slugify))
    levels: list[Any] = labels
    if draw(st.booleans()):
        codes = draw(st.lists(CODE, min_size=len(labels), max_size=len(labels), unique=True))
        levels = [{"code": c, "label": label} for c, label in zip(codes, labels, strict=True)]
    start = draw(st.integers(-2, 3))
    scale: dict[str, Any] = {"levels": levels, "start": start}
    if draw(st.booleans()):
        scale["pass"] = draw(st.integers(start, start + len(labels) - 1))
    return scale


@st.composite
def definitions(draw: st.DrawFn) -> dict[str, Any]:
    counter = iter(range(1000))

    def code() -> str:
        return f"{draw(CODE)}.{next(counter)}"  # unique, as Moodle ID numbers must be

    def competency(depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {"code": code(), "title": draw(TEXT)}
        if draw(st.booleans()):
            out["description"] = draw(TEXT)
        if depth < 3:
            facets = [competency(depth + 1) for _ in range(draw(st.integers(0, 2)))]
            if facets:
                out["facets"] = facets
        return out

    definition: dict[str, Any] = {"code": draw(CODE), "title": draw(TEXT)}
    if draw(st.booleans()):
        definition["description"] = draw(TEXT)
    definition["scale"] = draw(scales())
    blocks = [
        {
            "code": code(),
            "title": draw(TEXT),
            "competencies": [competency(1) for _ in range(draw(st.integers(0, 3)))],
        }
        for _ in range(draw(st.integers(0, 2)))
    ]
    if blocks:
        definition["blocks"] = blocks
    in_blocks = any(block["competencies"] for block in blocks)
    # import_definition wants at least one competency (and CASE carries the scale on them)
    loose = [competency(1) for _ in range(draw(st.integers(0 if in_blocks else 1, 2)))]
    if loose:
        definition["competencies"] = loose
    return definition


def normal(definition: dict[str, Any]) -> dict[str, Any]:
    """What export_definition would write for this definition once imported (URIs aside)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "uri"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    out = strip(definition)
    out["scale"] = export_scale(*frameworks.parse_scale(definition.get("scale")))
    return out  # type: ignore[no-any-return]


@settings(max_examples=100, deadline=None)
@given(definitions())
def test_case_round_trip(definition: dict[str, Any]) -> None:
    package = definition_to_case(definition, "Université", "fr", "2024-01-01T00:00:00+00:00", "urn:test")
    assert normal(parse_case(package).definition) == normal(definition)


@settings(max_examples=100, deadline=None)
@given(definitions())
def test_moodle_csv_round_trip(definition: dict[str, Any]) -> None:
    assert normal(read_moodle_csv(definition_to_csv(definition)).definition) == normal(definition)
