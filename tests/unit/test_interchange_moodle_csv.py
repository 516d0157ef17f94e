"""Moodle's competency framework CSV (tool_lpimportcsv): layout, scale mapping, round trips, bad files."""

from __future__ import annotations

import copy
import csv
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import establishments
from acquis.core.db import Database
from acquis.core.errors import InvalidInput
from acquis.core.interchange import import_source
from acquis.core.interchange.definition import export_definition, read_yaml
from acquis.core.interchange.moodle_csv import (
    HEADERS,
    definition_to_csv,
    export_moodle_csv,
    html_to_text,
    read_moodle_csv,
)
from acquis.core.interchange.samples import samples
from acquis.core.models import Competency, Establishment, Framework

MINI: dict[str, Any] = {
    "code": "mini",
    "title": "Mini",
    "description": "Un petit référentiel, avec une virgule.",
    "scale": {
        "levels": [{"code": "na", "label": "non acquis"}, {"code": "a", "label": "acquis"}, "maîtrise"],
        "start": 0,
        "pass": 1,
    },
    "blocks": [
        {
            "code": "B1",
            "title": "Bloc un",
            "competencies": [
                {"code": "C1", "title": "Un", "facets": [{"code": "C1.a", "title": "Un, a"}]},
                {"code": "C2", "title": "Deux", "description": "Sur\ndeux lignes"},
            ],
        }
    ],
    "competencies": [{"code": "C3", "title": "Trois, hors bloc"}],
}
# MINI as export_definition writes it (level codes are all given once one is custom).
MINI_NORMAL = copy.deepcopy(MINI)
MINI_NORMAL["scale"]["levels"][2] = {"code": "maitrise", "label": "maîtrise"}

# A file in the shape Moodle's exporter writes (older header spellings, HTML descriptions, no acquis
# member in the scale configuration, a competency repeating the framework's scale), three levels deep.
NATIVE = """\
"Parent id number","Id number",Shortname,Description,"Description format","Scale values",\
"Scale configuration","Rule type (optional)","Rule outcome (optional)","Rule config (optional)",\
"Cross referenced competency id numbers","Exported id (optional)","Is framework",Taxonomy
,NUM,"Compétences numériques","<p>Un cadre <b>importé</b> de Moodle&nbsp;:</p><p>deux lignes<br>et \
une &amp; autre.</p>",1,"Pas encore compétent,Compétent","[{""scaleid"":""2""},\
{""id"":2,""scaledefault"":1,""proficient"":1}]",,,,,,1,"competency,competency,competency"
,INFO,Information,"<p>Chercher
et trier.</p>",1,,,,0,null,,11,,
INFO,INFO.1,Rechercher,,0,,,,0,null,,12,,
INFO.1,INFO.1.a,"Choisir ses mots-clés",,0,,,,0,null,DATA,13,,
,DATA,Données,"Gérer des données",0,"Pas encore compétent,Compétent","[{""scaleid"":""2""}]",,0,null,,14,,
"""


def est(session: Session, slug: str = "univ-a") -> Establishment:
    found = session.scalar(select(Establishment).where(Establishment.slug == slug))
    return found or establishments.create(session, slug, f"Université {slug}")[0]


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def write_rows(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def sample_text(name: str) -> str:
    return next(s for s in samples() if s.name == name).path.read_text(encoding="utf-8")


def test_rncp_export_layout(db: Database) -> None:
    with db.session() as s:
        text = export_moodle_csv(s, import_source(s, est(s), read_yaml(sample_text("rncp-expert-si"))))
    rows = rows_of(text)
    assert text.splitlines()[0] == ",".join(HEADERS)
    framework = dict(zip(HEADERS, rows[1], strict=True))
    assert framework["Is framework"] == "1" and framework["ID number"] == "rncp-expert-si"
    assert framework["Scale values"] == "non acquis,en cours d'acquisition,acquis,maîtrise"
    config = json.loads(framework["Scale configuration"])
    assert config[0]["acquis"] == {"start": 0, "pass": 2}
    assert [(c["id"], c["proficient"], c["scaledefault"]) for c in config[1:]] == [
        (1, 0, 0),
        (2, 0, 0),
        (3, 1, 1),
        (4, 1, 0),
    ]
    assert framework["Taxonomy"] == "domain,competency"
    block, comp = (dict(zip(HEADERS, r, strict=True)) for r in rows[2:4])
    assert (block["Parent ID number"], block["ID number"], block["Taxonomy"]) == ("", "BC01", "domain")
    assert (comp["Parent ID number"], comp["ID number"], comp["Is framework"]) == ("BC01", "C.1", "0")
    assert len(rows) == 2 + 4 + 16


def test_progressive_scale_marks_every_value_proficient(db: Database) -> None:
    with db.session() as s:
        text = export_moodle_csv(s, import_source(s, est(s), read_yaml(sample_text("centrale"))))
    rows = [dict(zip(HEADERS, r, strict=True)) for r in rows_of(text)[1:]]
    config = json.loads(rows[0]["Scale configuration"])
    assert [(c["proficient"], c["scaledefault"]) for c in config[1:]] == [(1, 1)] + [(1, 0)] * 4
    assert rows[0]["Taxonomy"] == "competency,skill"
    assert [(r["Parent ID number"], r["ID number"], r["Taxonomy"]) for r in rows[1:5]] == [
        ("", "INNOV", "competency"),
        ("INNOV", "INNOV.1", "skill"),
        ("INNOV", "INNOV.2", "skill"),
        ("INNOV", "INNOV.3", "skill"),
    ]


@pytest.mark.parametrize("name", ["centrale", "rncp-expert-si", "demo"])
def test_round_trip_of_each_sample(db: Database, name: str) -> None:
    with db.session() as s:
        original = import_source(s, est(s), read_yaml(sample_text(name)))
        first = import_source(s, est(s, "univ-b"), read_moodle_csv(export_moodle_csv(s, original)))
        second = import_source(s, est(s, "univ-c"), read_moodle_csv(export_moodle_csv(s, first)))
        assert export_definition(s, second) == export_definition(s, first) == export_definition(s, original)


def test_blocks_loose_competencies_custom_codes_and_start_survive() -> None:
    assert read_moodle_csv(definition_to_csv(MINI)).definition == MINI_NORMAL


def test_file_written_by_moodle_is_read(db: Database) -> None:
    source = read_moodle_csv(NATIVE)
    assert source.definition == {
        "code": "NUM",
        "title": "Compétences numériques",
        "description": "Un cadre importé de Moodle :\ndeux lignes\net une & autre.",
        "scale": {"levels": ["Pas encore compétent", "Compétent"], "start": 1, "pass": 2},
        "competencies": [
            {
                "code": "INFO",
                "title": "Information",
                "description": "Chercher et trier.",
                "facets": [
                    {
                        "code": "INFO.1",
                        "title": "Rechercher",
                        "facets": [{"code": "INFO.1.a", "title": "Choisir ses mots-clés"}],
                    }
                ],
            },
            {"code": "DATA", "title": "Données", "description": "Gérer des données"},
        ],
    }
    with db.session() as s:
        fw = import_source(s, est(s), source)
        assert fw.pass_rank == 2 and [lv["code"] for lv in fw.scale] == ["pas-encore-competent", "competent"]


def test_byte_order_mark_and_semicolons_are_accepted() -> None:
    rows = rows_of(definition_to_csv(MINI))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    assert read_moodle_csv("\ufeff" + out.getvalue()).definition == MINI_NORMAL


def test_html_descriptions_become_text() -> None:
    assert html_to_text("<ul><li>un</li><li>deux&nbsp;trois</li></ul>") == "un\ndeux trois"


def _set(row: int, column: str, value: str) -> Callable[[list[list[str]]], None]:
    def mutate(rows: list[list[str]]) -> None:
        rows[row - 1][HEADERS.index(column)] = value

    return mutate


# Rows of MINI's file: 1 header, 2 framework, 3 B1, 4 C1, 5 C1.a, 6 C2, 7 C3.
BROKEN: list[tuple[str, Callable[[list[list[str]]], None]]] = [
    ("Is framework", _set(2, "Is framework", "0")),
    ("row 7, Is framework", _set(7, "Is framework", "1")),
    ("row 6, Parent ID number", _set(6, "Parent ID number", "ZZ")),
    ("row 3, Parent ID number", _set(3, "Parent ID number", "C1")),
    ("row 7, ID number", _set(7, "ID number", "C2")),
    ("row 7, ID number", _set(7, "ID number", " ")),
    ("row 5, ID number", _set(5, "ID number", "C1 a")),
    ("row 6, Short name", _set(6, "Short name", "")),
    ("row 2, ID number", _set(2, "ID number", "")),
    ("row 2, Scale configuration", _set(2, "Scale configuration", "[{")),
    (
        "row 2, Scale configuration",
        _set(2, "Scale configuration", '[{"scaleid":"1"},{"id":9,"proficient":1}]'),
    ),
    ("row 2, Scale configuration", _set(2, "Scale configuration", '[{"scaleid":"1","acquis":{"pass":7}}]')),
    ("row 4, Scale values", _set(4, "Scale values", "bas,haut")),
    ("competency rows", lambda rows: rows.__delitem__(slice(2, None))),
]


@pytest.mark.parametrize(("field", "mutate"), BROKEN, ids=[f"{i}-{b[0]}" for i, b in enumerate(BROKEN)])
def test_bad_file_names_row_and_column_and_writes_nothing(
    db: Database, field: str, mutate: Callable[[list[list[str]]], None]
) -> None:
    rows = rows_of(definition_to_csv(MINI))
    mutate(rows)
    with pytest.raises(InvalidInput) as exc, db.session() as s:
        import_source(s, est(s), read_moodle_csv(write_rows(rows)))
    assert exc.value.field == field, str(exc.value)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Framework)) == 0
        assert s.scalar(select(func.count()).select_from(Competency)) == 0


def test_what_moodle_cannot_hold_is_refused_on_export() -> None:
    comma = copy.deepcopy(MINI) | {"scale": ["bas, vraiment", "haut"]}
    with pytest.raises(InvalidInput, match="comma") as exc:
        definition_to_csv(comma)
    assert exc.value.field == "scale"
    shared = copy.deepcopy(MINI)
    shared["competencies"][0]["code"] = "B1"
    with pytest.raises(InvalidInput, match="distinct ID numbers") as exc:
        definition_to_csv(shared)
    assert exc.value.field == "competencies[0].code"


def test_empty_file_is_refused() -> None:
    with pytest.raises(InvalidInput, match="empty"):
        read_moodle_csv("")
