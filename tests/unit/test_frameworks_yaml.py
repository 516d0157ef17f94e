"""Framework definitions: scales, YAML errors, and imports that either land whole or not at all."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import acquis
from acquis.core import establishments, frameworks
from acquis.core.db import Database
from acquis.core.errors import Conflict, InvalidInput, NotFound
from acquis.core.frameworks import import_definition, load_yaml, parse_scale, slugify
from acquis.core.models import (
    DEFAULT_SCALE,
    BadgeClass,
    Block,
    Competency,
    Establishment,
    Framework,
    Level,
)
from tests.helpers import DEMO_FRAMEWORK

Definition = dict[str, Any]

FULL: Definition = {
    "code": "cnum",
    "title": "Compétences numériques",
    "uri": "https://example.org/frameworks/cnum",
    "scale": {
        "levels": ["non acquis", "en cours d'acquisition", "acquis", "maîtrise"],
        "start": 0,
        "pass": 2,
    },
    "blocks": [
        {
            "code": "B1",
            "title": "Information",
            "competencies": [
                {
                    "code": "C1",
                    "title": "Chercher",
                    "facets": [{"code": "C1.a", "title": "Formuler"}, {"code": "C1.b", "title": "Trier"}],
                },
                {"code": "C2", "title": "Gérer des données", "uri": "https://example.org/c2"},
            ],
        },
        {"code": "B2", "title": "Communication", "competencies": [{"code": "C3", "title": "Échanger"}]},
    ],
    "competencies": [{"code": "T1", "title": "Transversale"}],
}


def _length(column: Any) -> int:
    length = column.type.length
    assert isinstance(length, int)
    return length


# --- parse_scale (pure) ----------------------------------------------------------------------------


def test_no_scale_gives_the_default_progressive_scale() -> None:
    levels, pass_rank = parse_scale(None)
    assert levels == DEFAULT_SCALE
    assert pass_rank is None
    levels[0]["label"] = "changed"  # the caller gets copies: the shared default must not move
    assert DEFAULT_SCALE[0]["label"] == "Novice"


def test_named_levels_are_ranked_from_one_with_slug_codes() -> None:
    levels, pass_rank = parse_scale(["Novice", "Intermédiaire", "Compétent avancé"])
    assert levels == [
        {"rank": 1, "code": "novice", "label": "Novice"},
        {"rank": 2, "code": "intermediaire", "label": "Intermédiaire"},
        {"rank": 3, "code": "competent-avance", "label": "Compétent avancé"},
    ]
    assert pass_rank is None


def test_levels_given_as_mappings_keep_their_codes() -> None:
    levels, _ = parse_scale([{"code": "A1", "label": "Découverte"}, {"label": "Maîtrise"}])
    assert [(lv["code"], lv["label"]) for lv in levels] == [("A1", "Découverte"), ("maitrise", "Maîtrise")]


def test_numeric_scale_with_start_and_pass() -> None:
    levels, pass_rank = parse_scale(
        {"levels": ["non acquis", "en cours d'acquisition", "acquis", "maîtrise"], "start": 0, "pass": 2}
    )
    assert [lv["rank"] for lv in levels] == [0, 1, 2, 3]
    assert [lv["code"] for lv in levels] == ["non-acquis", "en-cours-d-acquisition", "acquis", "maitrise"]
    assert pass_rank == 2


def test_mapping_scale_starts_at_one_by_default() -> None:
    levels, pass_rank = parse_scale({"levels": ["bas", "haut"], "pass": 2})
    assert [lv["rank"] for lv in levels] == [1, 2]
    assert pass_rank == 2


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ([], "scale"),
        ({}, "scale"),
        ("Novice, Expert", "scale"),
        ({"levels": []}, "scale"),
        ({"levels": "a, b"}, "scale"),
        (["Acquis", "acquis"], "scale"),  # same slug
        ([{"code": "a", "label": "X"}, {"code": "a", "label": "Y"}], "scale"),
        (["Novice", None], "scale[1]"),
        (["Novice", ""], "scale[1]"),
        (["Novice", True], "scale[1]"),
        ([{"label": ""}], "scale[0].label"),
        ([{"code": "C1"}], "scale[0].label"),
        ([{"label": "A", "code": "bad code"}], "scale[0].code"),
        ([{"label": "A", "code": "a" * 65}], "scale[0].code"),  # the level code column holds 64
        ({"levels": ["a", "b"], "start": "0"}, "scale.start"),
        ({"levels": ["a", "b"], "start": 1.5}, "scale.start"),
        ({"levels": ["a", "b"], "start": True}, "scale.start"),
        ({"levels": ["a", "b"], "pass": 3}, "scale.pass"),
        ({"levels": ["a", "b"], "start": 1, "pass": 0}, "scale.pass"),
        ({"levels": ["a", "b"], "pass": "2"}, "scale.pass"),
        ({"levels": ["a", "b"], "pass": True}, "scale.pass"),  # True == 1, but is no rank
        ({"levels": ["a", "b"], "pass": 1.0}, "scale.pass"),
        ({"levels": ["a", "b"], "pass": [2]}, "scale.pass"),
        ({"levels": ["a", "b"], "pass": {"rank": 2}}, "scale.pass"),
    ],
)
def test_bad_scale_names_its_field(raw: Any, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_scale(raw)
    assert caught.value.field == field


def test_long_label_gives_a_code_that_fits_the_column() -> None:
    levels, _ = parse_scale(["Niveau " + "très " * 40 + "avancé", "Niveau de base"])
    assert len(levels[0]["code"]) <= _length(Level.__table__.c.code)
    assert not levels[0]["code"].endswith("-")
    assert levels[0]["label"].startswith("Niveau très")


def test_slugify() -> None:
    assert slugify("En cours d'acquisition") == "en-cours-d-acquisition"
    assert slugify("  Maîtrise  ") == "maitrise"
    assert slugify("——") == "level"  # nothing left: still a usable code


# --- load_yaml (pure) --------------------------------------------------------------------------------


def test_load_yaml_reads_a_definition() -> None:
    data = load_yaml("code: demo\ntitle: Démo\ncompetencies:\n  - {code: C1, title: Chercher}\n")
    assert data == {"code": "demo", "title": "Démo", "competencies": [{"code": "C1", "title": "Chercher"}]}


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("code: demo\ntitle: [Démo\ncompetencies: []\n", 3),  # unclosed flow sequence
        ("code: demo\ntitle: Démo\n  bad: indent\n", 3),
        ("code: demo\ntitle: 'Démo\n", 3),  # unclosed quote, found at the end
        ("code: demo\n\ttitle: Démo\n", 2),  # tab indentation
        ("code: demo\ntitle: Démo\ndescription: \x07\n", 3),  # control character (reader error)
    ],
)
def test_load_yaml_error_names_the_line(text: str, line: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        load_yaml(text)
    assert str(caught.value) == f"not valid YAML at line {line}"


def test_demo_framework_file_loads() -> None:
    path = Path(acquis.__file__).parent / "data" / "frameworks" / "demo.yaml"
    data = load_yaml(path.read_text(encoding="utf-8"))
    assert data["code"] == "demo"
    assert [c["code"] for c in data["blocks"][0]["competencies"]] == ["C1", "C2"]


# --- import_definition (database) ------------------------------------------------------------------


@pytest.fixture
def est_id(db: Database) -> int:
    with db.session() as s:
        est, _ = establishments.create(s, "univ-a", "Université A")
        return est.id


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _import(db: Database, est_id: int, data: Any, create_badges: bool = False) -> int:
    with db.session() as s:
        est = s.get(Establishment, est_id)
        assert est is not None
        return import_definition(s, est, data, create_badges=create_badges).id


def test_import_builds_blocks_competencies_facets_and_levels(db: Database, est_id: int) -> None:
    fw_id = _import(db, est_id, FULL)
    with db.session() as s:
        fw = s.get(Framework, fw_id)
        assert fw is not None
        assert (fw.code, fw.title, fw.uri, fw.pass_rank) == ("cnum", FULL["title"], FULL["uri"], 2)
        assert [lv["rank"] for lv in fw.scale] == [0, 1, 2, 3]
        assert [(b.code, b.position) for b in fw.blocks] == [("B1", 1), ("B2", 2)]
        comps = {c.code: c for c in fw.competencies}
        # Positions follow the document order, facets right after their parent.
        assert [c.code for c in fw.competencies] == ["C1", "C1.a", "C1.b", "C2", "C3", "T1"]
        b1, b2 = fw.blocks
        assert comps["C1"].block_id == comps["C2"].block_id == b1.id
        assert comps["C3"].block_id == b2.id
        assert comps["T1"].block_id is None
        assert comps["C1.a"].parent_id == comps["C1.b"].parent_id == comps["C1"].id
        assert comps["C1.a"].block_id == b1.id  # a facet sits in its parent's block
        assert all(comps[c].parent_id is None for c in ("C1", "C2", "C3", "T1"))
        assert comps["C2"].uri == "https://example.org/c2"
        for comp in fw.competencies:  # facets too: each competency has the whole scale
            assert [(lv.rank, lv.code, lv.label) for lv in comp.levels] == [
                (lv["rank"], lv["code"], lv["label"]) for lv in fw.scale
            ]
        assert _count(s, Level) == 6 * 4
        assert _count(s, BadgeClass) == 0


def test_create_badges_makes_one_badge_class_per_top_level_competency_and_level(
    db: Database, est_id: int
) -> None:
    _import(db, est_id, FULL, create_badges=True)
    with db.session() as s:
        rows = s.execute(
            select(Competency.code, Level.rank, BadgeClass.name, BadgeClass.establishment_id)
            .join(Competency, BadgeClass.competency_id == Competency.id)
            .join(Level, BadgeClass.level_id == Level.id)
        ).all()
        pairs = sorted((code, rank) for code, rank, _, _ in rows)
        assert pairs == sorted((code, rank) for code in ("C1", "C2", "C3", "T1") for rank in range(4))
        assert {est for *_, est in rows} == {est_id}
        names = {(code, rank): name for code, rank, name, _ in rows}
        assert names[("C1", 2)] == "Chercher — acquis"
        # Each badge class is for a level of its own competency.
        mismatched = s.scalar(
            select(func.count())
            .select_from(BadgeClass)
            .join(Level, BadgeClass.level_id == Level.id)
            .where(Level.competency_id != BadgeClass.competency_id)
        )
        assert mismatched == 0


def test_badge_name_is_cut_to_fit_for_long_titles(db: Database, est_id: int) -> None:
    title = "Concevoir " + "x" * 500  # 510: fits a competency title, not a badge name
    _import(
        db, est_id, {"code": "long", "title": "Long", "competencies": [{"code": "C1", "title": title}]}, True
    )
    with db.session() as s:
        names = list(s.scalars(select(BadgeClass.name)))
        assert len(names) == len(DEFAULT_SCALE)
        assert all(len(n) <= _length(BadgeClass.__table__.c.name) for n in names)
        assert all(n.startswith("Concevoir xxx") for n in names)


def test_values_at_the_column_limits_are_stored(db: Database, est_id: int) -> None:
    # PostgreSQL enforces VARCHAR lengths: what validation accepts must fit.
    data: Definition = {
        "code": "c" * 128,
        "title": "T" * 255,
        "uri": "https://example.org/" + "u" * 492,
        "scale": ["Niveau " + "très " * 40 + "élevé", "Bas"],
        "blocks": [
            {"code": "B" * 128, "title": "b" * 512, "competencies": [{"code": "K" * 128, "title": "k" * 512}]}
        ],
    }
    fw_id = _import(db, est_id, data, create_badges=True)
    with db.session() as s:
        fw = s.get(Framework, fw_id)
        assert fw is not None
        assert fw.title == "T" * 255
        assert len(fw.competencies[0].levels) == 2


def test_same_code_again_is_a_conflict_in_the_same_establishment_only(db: Database, est_id: int) -> None:
    _import(db, est_id, DEMO_FRAMEWORK)
    with pytest.raises(Conflict, match="'demo' already exists in univ-a"):
        _import(db, est_id, DEMO_FRAMEWORK)
    with db.session() as s:
        other, _ = establishments.create(s, "univ-b", "Université B")
        import_definition(s, other, DEMO_FRAMEWORK)
    with db.session() as s:
        assert _count(s, Framework) == 2
        assert _count(s, Competency) == 4


def _path(path: str, value: Any) -> Callable[[Definition], None]:
    """A mutation setting ``value`` at a path such as ``blocks[0].competencies[1].code``."""

    def apply(data: Definition) -> None:
        node: Any = data
        parts = path.replace("[", ".").replace("]", "").split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return apply


_DELETE = object()

BAD_IMPORTS: list[tuple[str, Any, str]] = [
    ("code", _DELETE, "code"),
    ("code", "cnum v2", "code"),
    ("title", "", "title"),
    ("title", "T" * 256, "title"),
    ("uri", ["https://example.org"], "uri"),
    ("uri", "https://example.org/" + "u" * 500, "uri"),
    ("scale", {"levels": ["a", "b"], "pass": 3}, "scale.pass"),
    ("blocks", {"B1": "Information"}, "blocks"),
    ("blocks[1]", "B2", "blocks[1]"),
    ("blocks[0].code", _DELETE, "blocks[0].code"),
    ("blocks[1].code", "B1", "blocks[1].code"),  # two blocks with one code
    ("blocks[1].title", None, "blocks[1].title"),
    ("blocks[0].uri", {"href": "x"}, "blocks[0].uri"),
    ("blocks[0].competencies", "C1, C2", "blocks[0].competencies"),
    ("blocks[0].competencies[1]", "C2", "blocks[0].competencies[1]"),
    ("blocks[0].competencies[1].code", _DELETE, "blocks[0].competencies[1].code"),
    ("blocks[0].competencies[1].code", "C 2", "blocks[0].competencies[1].code"),
    ("blocks[0].competencies[1].code", "C1", "blocks[0].competencies[1].code"),  # used twice
    ("blocks[0].competencies[1].title", "  ", "blocks[0].competencies[1].title"),
    ("blocks[0].competencies[0].facets", {"code": "C1.a"}, "blocks[0].competencies[0].facets"),
    ("blocks[0].competencies[0].facets[1].code", "C1.a", "blocks[0].competencies[0].facets[1].code"),
    ("blocks[0].competencies[0].facets[1].code", "T1", "competencies[0].code"),  # T1 comes later
    ("blocks[0].competencies[0].facets[0].title", None, "blocks[0].competencies[0].facets[0].title"),
    ("competencies", "T1", "competencies"),
    ("competencies[0].code", "C3", "competencies[0].code"),
    ("competencies[0].description", ["x"], "competencies[0].description"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), BAD_IMPORTS, ids=[f"{p}={v!r:.20}" for p, v, _ in BAD_IMPORTS]
)
def test_bad_definition_names_its_path_and_leaves_nothing(
    db: Database, est_id: int, path: str, value: Any, field: str
) -> None:
    data = copy.deepcopy(FULL)
    _path(path, value)(data)
    with pytest.raises(InvalidInput) as caught:
        _import(db, est_id, data)
    assert caught.value.field == field
    with db.session() as s:
        # Rows were flushed before the error; the caller's rollback must take them all away.
        for model in (Framework, Block, Competency, Level, BadgeClass):
            assert _count(s, model) == 0, model.__name__
        assert _count(s, Establishment) == 1


def test_duplicate_code_message_names_the_code(db: Database, est_id: int) -> None:
    data = {
        "code": "d",
        "title": "D",
        "competencies": [{"code": "C1", "title": "a"}, {"code": "C1", "title": "b"}],
    }
    with pytest.raises(InvalidInput, match="competency code 'C1' is used twice"):
        _import(db, est_id, data)


@pytest.mark.parametrize("data", [[], "code: demo", None])
def test_definition_must_be_a_mapping(db: Database, est_id: int, data: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        _import(db, est_id, data)
    assert caught.value.field is None


@pytest.mark.parametrize(
    "data",
    [{"code": "e", "title": "E"}, {"code": "e", "title": "E", "blocks": [{"code": "B", "title": "B"}]}],
)
def test_framework_without_competencies_is_refused(db: Database, est_id: int, data: Definition) -> None:
    with pytest.raises(InvalidInput) as caught:
        _import(db, est_id, data)
    assert caught.value.field == "competencies"
    with db.session() as s:
        assert _count(s, Framework) == 0
        assert _count(s, Block) == 0


def test_failed_import_after_a_good_one_keeps_the_good_one(db: Database, est_id: int) -> None:
    _import(db, est_id, DEMO_FRAMEWORK, create_badges=True)
    bad = copy.deepcopy(FULL)
    bad["competencies"][0]["code"] = "C1"
    with pytest.raises(InvalidInput):
        _import(db, est_id, bad, create_badges=True)
    with db.session() as s:
        assert list(s.scalars(select(Framework.code))) == ["demo"]
        assert _count(s, Competency) == 2
        assert _count(s, BadgeClass) == 2 * len(DEFAULT_SCALE)


def test_yaml_definition_end_to_end_error_path(db: Database, est_id: int) -> None:
    text = """\
code: cnum
title: Compétences numériques
blocks:
  - code: B1
    title: Information
    competencies:
      - {code: C1, title: Chercher}
      - {code: "C 2", title: Gérer}
"""
    with pytest.raises(InvalidInput) as caught:
        _import(db, est_id, load_yaml(text))
    assert caught.value.field == "blocks[0].competencies[1].code"
    assert str(caught.value).startswith("blocks[0].competencies[1].code: use letters")


def test_demo_yaml_imports(db: Database, est_id: int) -> None:
    path = Path(acquis.__file__).parent / "data" / "frameworks" / "demo.yaml"
    fw_id = _import(db, est_id, load_yaml(path.read_text(encoding="utf-8")), create_badges=True)
    with db.session() as s:
        fw = s.get(Framework, fw_id)
        assert fw is not None
        assert [c.code for c in fw.competencies] == ["C1", "C2"]
        assert _count(s, BadgeClass) == 2 * len(DEFAULT_SCALE)
        est = s.get(Establishment, est_id)
        assert est is not None
        assert frameworks.get(s, est).id == fw_id  # the only one: no need to name it
        assert frameworks.get(s, est, "demo").id == fw_id


def test_get_names_what_is_missing_or_ambiguous(db: Database, est_id: int) -> None:
    with db.session() as s:
        est = s.get(Establishment, est_id)
        assert est is not None
        with pytest.raises(NotFound, match="univ-a has no framework yet"):
            frameworks.get(s, est)
        import_definition(s, est, DEMO_FRAMEWORK)
        import_definition(s, est, FULL)
        with pytest.raises(InvalidInput, match="several frameworks"):
            frameworks.get(s, est)
        with pytest.raises(NotFound, match="no framework 'nope' in univ-a"):
            frameworks.get(s, est, "nope")
        assert frameworks.get(s, est, "cnum").title == FULL["title"]
