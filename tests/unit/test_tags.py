"""Tags: finding the level a tag validates, and refusing rules that could never work."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core import establishments, frameworks, tags
from acquis.core.db import Database
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import Activity, Competency, Establishment, Level, ValidationRule, rule_activity
from acquis.core.plugins import PluginHost
from tests import helpers

BOOK = f"{helpers.MOODLE}/mod/book/view.php?id="


@pytest.fixture
def session(db: Database, host: PluginHost) -> Iterator[Session]:
    """A session holding a tenant with the demo framework; committed at the end of the test."""
    with db.session() as s:
        helpers.make_tenant(s, host, "univ-a")
        yield s


def _est(session: Session, slug: str = "univ-a") -> Establishment:
    est = session.scalar(select(Establishment).where(Establishment.slug == slug))
    assert est is not None
    return est


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- find_level ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wanted", "rank"),
    [
        ("2", 2),
        ("intermediaire", 2),
        ("INTERMEDIAIRE", 2),
        ("Intermédiaire", 2),
        ("INTERMÉDIAIRE", 2),
        ("  expert ", 5),
        ("Novice", 1),
        ("avancé", 4),
        ("5", 5),
    ],
)
def test_find_level_by_rank_code_or_label(session: Session, wanted: str, rank: int) -> None:
    level = tags.find_level(session, _est(session), "C2", wanted)
    assert level.rank == rank
    comp = session.get(Competency, level.competency_id)
    assert comp is not None
    assert comp.code == "C2"  # not the same level of C1


def test_find_level_on_a_numeric_scale_starting_at_zero(session: Session) -> None:
    est = _est(session)
    frameworks.import_definition(
        session,
        est,
        {
            "code": "num",
            "title": "Numérique",
            "scale": {"levels": ["non acquis", "acquis"], "start": 0, "pass": 1},
            "competencies": [{"code": "N1", "title": "Un", "facets": [{"code": "N1.a", "title": "Facette"}]}],
        },
    )
    assert tags.find_level(session, est, "N1", "0", framework="num").code == "non-acquis"
    assert tags.find_level(session, est, "N1", "Acquis", framework="num").rank == 1
    facet_level = tags.find_level(session, est, "N1.a", "acquis", framework="num")
    facet = session.get(Competency, facet_level.competency_id)
    assert facet is not None
    assert facet.parent_id is not None  # facets can be tagged too
    # Two frameworks now: one must be named.
    with pytest.raises(InvalidInput, match="several frameworks"):
        tags.find_level(session, est, "C1", "Novice")
    assert tags.find_level(session, est, "C1", "Novice", framework="demo").rank == 1


def test_unknown_competency_is_named(session: Session) -> None:
    with pytest.raises(NotFound) as caught:
        tags.find_level(session, _est(session), "C9", "Novice")
    assert str(caught.value) == "no competency 'C9' in framework 'demo'"


def test_competency_code_is_exact(session: Session) -> None:
    with pytest.raises(NotFound, match="no competency 'c1'"):
        tags.find_level(session, _est(session), "c1", "Novice")


@pytest.mark.parametrize("wanted", ["Maître", "6", "0", "", "novic"])
def test_unknown_level_lists_the_levels(session: Session, wanted: str) -> None:
    with pytest.raises(NotFound) as caught:
        tags.find_level(session, _est(session), "C1", wanted)
    assert str(caught.value) == (
        f"no level {wanted!r} for C1 (levels: Novice, Intermédiaire, Compétent, Avancé, Expert)"
    )


def test_unknown_framework_is_named(session: Session) -> None:
    with pytest.raises(NotFound, match="no framework 'other' in univ-a"):
        tags.find_level(session, _est(session), "C1", "Novice", framework="other")


def test_levels_of_another_establishment_are_not_found(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        helpers.make_tenant(s, host, "univ-a")
        est_b, _ = establishments.create(s, "univ-b", "Université B")
        with pytest.raises(NotFound, match="univ-b has no framework yet"):
            tags.find_level(s, est_b, "C1", "Novice")


# --- add_rule --------------------------------------------------------------------------------------------


def test_add_rule_stores_the_rule_and_its_activities(session: Session) -> None:
    est = _est(session)
    level = tags.find_level(session, est, "C1", "Compétent")
    rule = tags.add_rule(
        session, est, level, [BOOK + "1", BOOK + "2", BOOK + "3"], "min_grade", 0.6, 2, created_by="cli"
    )
    session.expire_all()
    stored = session.get(ValidationRule, rule.id)
    assert stored is not None
    assert (stored.establishment_id, stored.level_id) == (est.id, level.id)
    assert (stored.trigger, stored.min_grade, stored.required_count, stored.created_by) == (
        "min_grade",
        0.6,
        2,
        "cli",
    )
    assert sorted(a.source_id for a in stored.activities) == [BOOK + "1", BOOK + "2", BOOK + "3"]
    assert all(a.establishment_id == est.id for a in stored.activities)


def test_activities_are_shared_between_rules_and_keep_their_name(session: Session) -> None:
    est = _est(session)
    named = tags.get_or_create_activity(session, est, BOOK + "1", "Le livre")
    first = tags.add_rule(session, est, tags.find_level(session, est, "C1", "1"), [BOOK + "1"])
    second = tags.add_rule(session, est, tags.find_level(session, est, "C2", "1"), [BOOK + "1", BOOK + "2"])
    assert first.activities[0].id == named.id
    assert named.id in {a.id for a in second.activities}
    assert _count(session, Activity) == 2
    assert named.name == "Le livre"
    assert tags.get_or_create_activity(session, est, BOOK + "1", "Autre nom").name == "Le livre"


def test_an_activity_named_later_gets_its_name(session: Session) -> None:
    est = _est(session)
    unnamed = tags.get_or_create_activity(session, est, BOOK + "7")
    assert unnamed.name == ""
    again = tags.get_or_create_activity(session, est, BOOK + "7", "Chapitre 7")
    assert again.id == unnamed.id
    assert again.name == "Chapitre 7"


def test_same_activity_url_is_a_different_activity_in_another_establishment(
    db: Database, host: PluginHost
) -> None:
    with db.session() as s:
        a = helpers.make_tenant(s, host, "univ-a")
        b = helpers.make_tenant(s, host, "univ-b")
        helpers.tag(s, a, [1])
        helpers.tag(s, b, [1])
        rows = s.execute(select(Activity.establishment_id, Activity.source_id)).all()
        assert sorted(rows) == sorted([(a.est.id, BOOK + "1"), (b.est.id, BOOK + "1")])


@pytest.mark.parametrize(
    ("trigger", "min_grade", "required"),
    [
        ("completion", None, 1),
        ("success", None, 2),
        ("min_grade", 0.0, 1),
        ("min_grade", 1.0, 2),
        ("min_grade", 1, 1),
    ],
)
def test_valid_rules_are_accepted(
    session: Session, trigger: str, min_grade: float | None, required: int
) -> None:
    est = _est(session)
    rule = tags.add_rule(
        session,
        est,
        tags.find_level(session, est, "C1", "1"),
        [BOOK + "1", BOOK + "2"],
        trigger,
        min_grade,
        required,
    )
    assert rule.id is not None
    assert rule.min_grade == min_grade


BAD_RULES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown trigger", {"trigger": "grade"}, "trigger"),
    ("trigger in capitals", {"trigger": "COMPLETION"}, "trigger"),
    ("min_grade trigger without grade", {"trigger": "min_grade"}, "min_grade"),
    ("grade above 1", {"trigger": "min_grade", "min_grade": 1.5}, "min_grade"),
    ("grade as a percentage", {"trigger": "min_grade", "min_grade": 60}, "min_grade"),
    ("negative grade", {"trigger": "min_grade", "min_grade": -0.1}, "min_grade"),
    ("NaN grade", {"trigger": "min_grade", "min_grade": math.nan}, "min_grade"),
    ("grade with completion", {"trigger": "completion", "min_grade": 0.5}, "min_grade"),
    ("grade with success", {"trigger": "success", "min_grade": 0.5}, "min_grade"),
    ("no activity", {"activities": []}, "activity"),
    ("activity twice", {"activities": [BOOK + "1", BOOK + "2", BOOK + "1"]}, "activity"),
    ("required 0", {"required": 0}, "required_count"),
    ("required above the activities", {"required": 3}, "required_count"),
    ("required negative", {"required": -1}, "required_count"),
    ("not a URL", {"activities": [BOOK + "1", "Module 1"]}, "activity"),
    ("relative URL", {"activities": ["mod/book/view.php?id=1"]}, "activity"),
    ("label with a colon", {"activities": ["Module 1: introduction"]}, "activity"),
    ("leading space", {"activities": [" " + BOOK + "1"]}, "activity"),
    ("trailing newline", {"activities": [BOOK + "1\n"]}, "activity"),
    ("empty", {"activities": [""]}, "activity"),
    ("too long", {"activities": [BOOK + "1" * 1100]}, "activity"),
]


@pytest.mark.parametrize(
    ("change", "field"), [(c, f) for _, c, f in BAD_RULES], ids=[n for n, _, _ in BAD_RULES]
)
def test_bad_rule_names_its_field_and_stores_nothing(
    db: Database, host: PluginHost, change: dict[str, Any], field: str
) -> None:
    with db.session() as s:
        helpers.make_tenant(s, host, "univ-a")
    args: dict[str, Any] = {"activities": [BOOK + "1", BOOK + "2"], "trigger": "completion", "required": 1}
    args.update(change)
    with pytest.raises(InvalidInput) as caught, db.session() as s:
        est = _est(s)
        tags.add_rule(
            s,
            est,
            tags.find_level(s, est, "C1", "Novice"),
            args["activities"],
            args["trigger"],
            args.get("min_grade"),
            args["required"],
        )
    assert caught.value.field == field
    with db.session() as s:
        assert _count(s, ValidationRule) == 0
        assert _count(s, Activity) == 0  # activities created before the bad one went with the rollback
        assert _count(s, rule_activity) == 0
        assert _count(s, Level) == 10  # the framework itself is untouched


def test_other_iri_schemes_are_accepted(session: Session) -> None:
    est = _est(session)
    rule = tags.add_rule(
        session,
        est,
        tags.find_level(session, est, "C1", "1"),
        ["urn:uuid:6f1c1a2e-0000-4000-8000-000000000001"],
    )
    assert rule.activities[0].source_id.startswith("urn:uuid:")
