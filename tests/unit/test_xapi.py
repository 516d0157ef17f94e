"""xAPI parsing: what Moodle's logstore_xapi sends becomes completion facts, and bad input says where."""

from __future__ import annotations

import copy
import json
import math
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from acquis.core import xapi
from acquis.core.db import Database
from acquis.core.errors import InvalidInput
from acquis.core.ingest import ingest
from acquis.core.models import COMPLETION_STATES, Activity, Learner, LearnerIdentifier
from acquis.core.plugins import PluginHost
from acquis.core.xapi import MAX_BATCH, CompletionFact, content_hash, parse_batch
from tests import helpers
from tests.conftest import REFERENCE

RECEIVED = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
Statement = dict[str, Any]


def _reference(name: str) -> list[Statement]:
    with open(REFERENCE / "xapi" / f"{name}.statements.json", encoding="utf-8") as fh:
        statements: list[Statement] = json.load(fh)
    return statements


def _fact(statement: Statement) -> CompletionFact:
    (fact,) = parse_batch([statement], RECEIVED)
    assert fact is not None
    return fact


def _error(body: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_batch(body, RECEIVED)
    return caught.value


def _column_length(column: Any) -> int:
    length = column.type.length
    assert isinstance(length, int)
    return length


# --- the reference statements --------------------------------------------------------------------


def test_reference_completed_statement_gives_a_passed_fact() -> None:
    statements = _reference("module-completed")
    (fact,) = parse_batch(statements, RECEIVED)
    assert fact is not None
    assert fact.state == "passed"  # completed with success: true
    assert fact.identifier_system == "xapi:http://www.example.org"
    assert fact.identifier_value == "1"
    assert fact.learner_name == "test_fullname"
    assert fact.learner_email is None
    assert fact.activity_id == "http://www.example.org/mod/book/view.php?id=1"
    assert fact.activity_name == "test_book_name"
    assert fact.activity_type == "http://id.tincanapi.com/activitytype/book"
    # Two parents: the section is skipped, the cmi5 course is the course.
    assert fact.course_ref == "http://www.example.org/course/view.php?id=2"
    assert fact.grade is None
    # logstore_xapi sends neither an id nor a timestamp.
    assert fact.source_id is None
    assert fact.occurred_at == RECEIVED
    assert fact.content_hash == content_hash(statements[0])
    assert fact.statement_id == str(uuid.UUID(fact.content_hash[:32]))


def test_reference_uncompleted_statement_gives_an_incomplete_fact() -> None:
    (fact,) = parse_batch(_reference("module-uncompleted"), RECEIVED)
    assert fact is not None
    assert fact.state == "incomplete"
    assert fact.activity_id == "http://www.example.org/mod/book/view.php?id=1"
    assert fact.grade is None


def test_reference_statements_differ_in_hash_and_id() -> None:
    done = _fact(_reference("module-completed")[0])
    undone = _fact(_reference("module-uncompleted")[0])
    assert done.content_hash != undone.content_hash
    assert done.statement_id != undone.statement_id


# --- verbs and results -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("verb", "success", "state"),
    [
        ("completed", True, "passed"),
        ("completed", False, "failed"),
        ("completed", None, "completed"),
        ("passed", None, "passed"),
        ("failed", None, "failed"),
        ("uncompleted", None, "incomplete"),
    ],
)
def test_verb_and_success_give_the_state(verb: str, success: bool | None, state: str) -> None:
    assert _fact(helpers.statement(verb=verb, success=success)).state == state


def test_completed_without_result_is_a_plain_completion() -> None:
    statement = helpers.statement()
    del statement["result"]
    assert _fact(statement).state == "completed"


def test_success_must_be_a_boolean() -> None:
    statement = helpers.statement()
    statement["result"]["success"] = "true"
    assert _error([statement]).field == "statements[0].result.success"


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        ({"scaled": 0.75}, 0.75),
        ({"scaled": 1}, 1.0),
        ({"scaled": -1}, -1.0),
        ({"scaled": 0}, 0.0),
        ({"raw": 15, "min": 10, "max": 20}, 0.5),
        ({"raw": 8, "max": 10}, 0.8),  # min defaults to 0
        ({"raw": 10, "min": 0, "max": 10}, 1.0),
        ({"raw": 2.5, "min": 0.0, "max": 10.0}, 0.25),
        ({"scaled": 0.1, "raw": 9, "max": 10}, 0.1),  # scaled wins when both are given
        ({"raw": 7}, None),  # no max: nothing to scale against
        ({"max": 10}, None),
        ({"raw": 7, "max": None}, None),
        ({}, None),
    ],
)
def test_score_gives_the_grade(score: dict[str, Any], grade: float | None) -> None:
    statement = helpers.statement()
    statement["result"]["score"] = score
    fact = _fact(statement)
    if grade is None:
        assert fact.grade is None
    else:
        assert fact.grade == pytest.approx(grade)


@pytest.mark.parametrize(
    ("score", "field"),
    [
        ({"scaled": 1.5}, "statements[0].result.score.scaled"),
        ({"scaled": -1.01}, "statements[0].result.score.scaled"),
        ({"scaled": "0.5"}, "statements[0].result.score.scaled"),
        ({"scaled": True}, "statements[0].result.score.scaled"),
        ({"scaled": None}, "statements[0].result.score.scaled"),
        ({"scaled": math.nan}, "statements[0].result.score.scaled"),
        ({"scaled": math.inf}, "statements[0].result.score.scaled"),
        ({"raw": "5", "max": 10}, "statements[0].result.score.raw"),
        ({"raw": 5, "min": "0", "max": 10}, "statements[0].result.score.min"),
        ({"raw": 5, "max": [10]}, "statements[0].result.score.max"),
        ({"raw": True, "max": 10}, "statements[0].result.score.raw"),
        ({"raw": "5"}, "statements[0].result.score.raw"),  # malformed even without a max
        ({"raw": math.nan, "max": 10}, "statements[0].result.score.raw"),
        ({"raw": math.inf, "max": math.inf}, "statements[0].result.score.raw"),
        ({"raw": 5, "max": math.inf}, "statements[0].result.score.max"),
        ({"raw": 10**400, "max": 10**401}, "statements[0].result.score.raw"),
        ({"raw": 11, "max": 10}, "statements[0].result.score"),
        ({"raw": -1, "max": 10}, "statements[0].result.score"),
        ({"raw": 5, "min": 5, "max": 5}, "statements[0].result.score"),
        ({"raw": 5, "min": 10, "max": 0}, "statements[0].result.score"),
        ({"raw": 0, "min": -1.5e308, "max": 1.5e308}, "statements[0].result.score"),
        ("full marks", "statements[0].result.score"),
    ],
)
def test_malformed_score_names_its_field(score: Any, field: str) -> None:
    statement = helpers.statement()
    statement["result"]["score"] = score
    assert _error([statement]).field == field


# --- timestamps and ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-01-31T10:00:00Z", datetime(2026, 1, 31, 10, 0, tzinfo=UTC)),
        ("2026-01-31T10:00:00+00:00", datetime(2026, 1, 31, 10, 0, tzinfo=UTC)),
        ("2026-01-31T10:00:00+02:00", datetime(2026, 1, 31, 8, 0, tzinfo=UTC)),
        ("2026-01-31T10:00:00.250-05:30", datetime(2026, 1, 31, 15, 30, 0, 250000, tzinfo=UTC)),
    ],
)
def test_timestamp_is_converted_to_utc(stamp: str, expected: datetime) -> None:
    occurred = _fact(helpers.statement(timestamp=stamp)).occurred_at
    assert occurred == expected
    assert occurred.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-01-31T10:00:00",  # no timezone: which hour would it be?
        "2026-01-31",
        "yesterday",
        "",
        "2026-13-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
        "2026-01-31T10:00:00Z" + " " * 60,  # longer than a timestamp can be
    ],
)
def test_bad_timestamp_names_its_field(stamp: str) -> None:
    assert _error([helpers.statement(timestamp=stamp)]).field == "statements[0].timestamp"


def test_timestamp_must_be_text() -> None:
    statement = helpers.statement()
    statement["timestamp"] = 1769853600
    assert _error([statement]).field == "statements[0].timestamp"


def test_statement_id_becomes_source_id_in_canonical_form() -> None:
    statement = helpers.statement()
    given_id = "A1B2C3D4-E5F6-4789-8ABC-DEF012345678"
    statement["id"] = given_id
    fact = _fact(statement)
    assert fact.source_id == given_id.lower()
    assert fact.statement_id == fact.source_id


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "", "1234", 42, None, "a1b2c3d4-e5f6-4789-8abc-def01234567z"]
)
def test_statement_id_must_be_a_uuid(bad_id: Any) -> None:
    statement = helpers.statement()
    statement["id"] = bad_id
    assert _error([statement]).field == "statements[0].id"


def test_derived_statement_id_is_stable_across_resends() -> None:
    first = _fact(helpers.statement())
    again = helpers.statement()
    # What an LRS in between adds must not make a resend look new.
    again["stored"] = "2026-02-01T00:00:00Z"
    again["authority"] = {"mbox": "mailto:lrs@example.org"}
    again["version"] = "1.0.3"
    second = _fact(again)
    assert second.source_id is None
    assert second.statement_id == first.statement_id
    assert second.content_hash == first.content_hash


# --- content_hash -----------------------------------------------------------------------------------


def _reverse_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


def test_content_hash_ignores_what_an_lrs_adds() -> None:
    base = helpers.statement()
    decorated = copy.deepcopy(base)
    decorated.update(
        id=str(uuid.uuid4()),
        stored="2026-02-01T00:00:00Z",
        authority={"objectType": "Agent", "mbox": "mailto:lrs@example.org"},
        version="1.0.0",
    )
    assert content_hash(decorated) == content_hash(base)


def test_content_hash_is_stable_under_key_order() -> None:
    base = helpers.statement(scaled=0.5, timestamp="2026-01-31T10:00:00Z")
    shuffled = _reverse_keys(base)
    assert list(shuffled) != list(base)
    assert content_hash(shuffled) == content_hash(base)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["result"].update(success=False),
        lambda s: s.update(timestamp="2026-01-31T10:00:01Z"),
        lambda s: s["actor"]["account"].update(name="2"),
        lambda s: s["object"].update(id="http://www.example.org/mod/book/view.php?id=2"),
        lambda s: s["context"].update(language="fr"),
    ],
)
def test_content_hash_changes_with_what_the_statement_says(change: Callable[[Statement], None]) -> None:
    base = helpers.statement(timestamp="2026-01-31T10:00:00Z")
    changed = copy.deepcopy(base)
    change(changed)
    assert content_hash(changed) != content_hash(base)


def test_content_hash_is_a_sha256_hex_digest() -> None:
    digest = content_hash(helpers.statement())
    assert len(digest) == 64
    int(digest, 16)


# --- malformed statements name the exact field -------------------------------------------------


def _set(path: str, value: Any) -> Callable[[Statement], None]:
    """A mutation setting the value at a dotted path (missing dicts are created)."""

    def apply(statement: Statement) -> None:
        *parents, last = path.split(".")
        node = statement
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value

    return apply


def _delete(path: str) -> Callable[[Statement], None]:
    def apply(statement: Statement) -> None:
        *parents, last = path.split(".")
        node = statement
        for key in parents:
            node = node[key]
        del node[last]

    return apply


MALFORMED: list[tuple[str, Callable[[Statement], None], str]] = [
    ("no actor", _delete("actor"), "actor"),
    ("actor is a list", _set("actor", [{"mbox": "mailto:a@b.fr"}]), "actor"),
    ("group actor", _set("actor.objectType", "Group"), "actor.objectType"),
    ("no identifier", _set("actor", {"name": "Anon"}), "actor"),
    ("account not an object", _set("actor.account", "1"), "actor.account"),
    ("empty account name", _set("actor.account.name", ""), "actor.account.name"),
    ("blank account name", _set("actor.account.name", "   "), "actor.account.name"),
    ("numeric account name", _set("actor.account.name", 1), "actor.account.name"),
    ("account name too long", _set("actor.account.name", "x" * 256), "actor.account.name"),
    ("no homePage", _delete("actor.account.homePage"), "actor.account.homePage"),
    ("homePage not an IRI", _set("actor.account.homePage", "www.example.org"), "actor.account.homePage"),
    ("homePage with a space", _set("actor.account.homePage", "http://a b"), "actor.account.homePage"),
    ("no verb", _delete("verb"), "verb"),
    ("verb not an object", _set("verb", "completed"), "verb"),
    ("verb id not an IRI", _set("verb.id", "completed"), "verb.id"),
    ("no verb id", _delete("verb.id"), "verb.id"),
    ("no object", _delete("object"), "object"),
    ("no object id", _delete("object.id"), "object.id"),
    ("object id not an IRI", _set("object.id", "book 1"), "object.id"),
    (
        "object id with newline",
        _set("object.id", "http://www.example.org/mod/book/view.php?id=1\n"),
        "object.id",
    ),
    ("object id too long", _set("object.id", "http://x.org/" + "a" * 1024), "object.id"),
    ("completion of an agent", _set("object.objectType", "Agent"), "object.objectType"),
    ("result not an object", _set("result", [True]), "result"),
    ("result null", _set("result", None), "result"),
    ("context not an object", _set("context", "course 2"), "context"),
]


@pytest.mark.parametrize(
    ("mutate", "suffix"), [(m, s) for _, m, s in MALFORMED], ids=[n for n, _, _ in MALFORMED]
)
def test_malformed_statement_names_the_exact_field(mutate: Callable[[Statement], None], suffix: str) -> None:
    good = helpers.statement(user="1")
    bad = helpers.statement(user="2")
    mutate(bad)
    error = _error([good, bad, helpers.statement(user="3")])
    assert error.field == f"statements[1].{suffix}"
    assert str(error).startswith(f"statements[1].{suffix}: ")


def test_a_statement_that_is_not_an_object_is_named() -> None:
    assert _error([helpers.statement(), "completed"]).field == "statements[1]"


def test_the_first_bad_statement_of_a_batch_is_reported() -> None:
    bad = helpers.statement()
    bad["actor"]["account"]["name"] = ""
    error = _error([helpers.statement(), helpers.statement(), bad, bad])
    assert error.field == "statements[2].actor.account.name"


def test_single_statement_body_is_accepted_and_named_statement() -> None:
    (fact,) = parse_batch(helpers.statement(user="9"), RECEIVED)
    assert fact is not None
    assert fact.identifier_value == "9"
    bad = helpers.statement()
    bad["actor"]["account"]["name"] = ""
    assert _error(bad).field == "statement.actor.account.name"


# --- other verbs: checked, then skipped ----------------------------------------------------------


def _experienced() -> Statement:
    statement = helpers.statement()
    statement["verb"] = {"id": EXPERIENCED, "display": {"en": "experienced"}}
    return statement


def test_non_completion_verb_gives_none() -> None:
    facts = parse_batch([_experienced(), helpers.statement()], RECEIVED)
    assert facts[0] is None
    assert facts[1] is not None


@pytest.mark.parametrize(
    ("mutate", "suffix"),
    [
        (_set("actor.account.name", ""), "actor.account.name"),
        (_set("object.id", "not an iri"), "object.id"),
        (_set("timestamp", "2026-01-31T10:00:00"), "timestamp"),
        (_set("result.score", {"scaled": 2}), "result.score.scaled"),
        (_set("result.success", 1), "result.success"),
        (_set("context", []), "context"),
        (_set("id", "nope"), "id"),
    ],
)
def test_non_completion_verb_is_still_validated(mutate: Callable[[Statement], None], suffix: str) -> None:
    statement = _experienced()
    mutate(statement)
    assert _error([statement]).field == f"statements[0].{suffix}"


def test_non_completion_about_an_agent_gives_none() -> None:
    statement = _experienced()
    statement["object"] = {"objectType": "Agent", "mbox": "mailto:peer@example.org"}
    assert parse_batch([statement], RECEIVED) == [None]


# --- actors ----------------------------------------------------------------------------------------


def test_mbox_actor_is_identified_by_lowercased_email() -> None:
    statement = helpers.statement()
    statement["actor"] = {
        "objectType": "Agent",
        "name": "Jeanne",
        "mbox": "mailto:Jeanne.Dupont@Univ-Lille.FR",
    }
    fact = _fact(statement)
    assert fact.identifier_system == "email"
    assert fact.identifier_value == "jeanne.dupont@univ-lille.fr"
    assert fact.learner_email == "jeanne.dupont@univ-lille.fr"
    assert fact.learner_name == "Jeanne"


@pytest.mark.parametrize("mbox", ["jeanne@univ.fr", "mailto:jeanne", "mailto:" + "a" * 250 + "@univ.fr", 7])
def test_bad_mbox_is_refused(mbox: Any) -> None:
    statement = helpers.statement()
    statement["actor"] = {"mbox": mbox}
    assert _error([statement]).field == "statements[0].actor.mbox"


def test_mbox_sha1sum_and_openid_actors() -> None:
    statement = helpers.statement()
    statement["actor"] = {"mbox_sha1sum": "a" * 40}
    fact = _fact(statement)
    assert (fact.identifier_system, fact.identifier_value, fact.learner_email) == (
        "mbox_sha1sum",
        "a" * 40,
        None,
    )
    statement["actor"] = {"openid": "https://id.example.org/jeanne"}
    fact = _fact(statement)
    assert (fact.identifier_system, fact.identifier_value) == ("openid", "https://id.example.org/jeanne")


@pytest.mark.parametrize(
    ("actor", "field"),
    [
        ({"mbox_sha1sum": "A" * 40}, "actor.mbox_sha1sum"),
        ({"mbox_sha1sum": "a" * 39}, "actor.mbox_sha1sum"),
        ({"openid": "jeanne"}, "actor.openid"),
        ({"openid": "https://id.example.org/" + "j" * 240}, "actor.openid"),
    ],
)
def test_bad_other_identifiers_are_refused(actor: Statement, field: str) -> None:
    statement = helpers.statement()
    statement["actor"] = actor
    assert _error([statement]).field == f"statements[0].{field}"


def test_home_page_trailing_slash_does_not_make_another_learner() -> None:
    with_slash = _fact(helpers.statement(home="http://www.example.org/"))
    without = _fact(helpers.statement(home="http://www.example.org"))
    assert with_slash.identifier_system == without.identifier_system == "xapi:http://www.example.org"


def test_language_map_name_prefers_french_and_is_cut_to_the_column() -> None:
    statement = helpers.statement()
    statement["actor"]["name"] = {"en": "Joan", "fr": "Jeanne"}
    assert _fact(statement).learner_name == "Jeanne"
    statement["actor"]["name"] = {"de": "J" * 400}
    assert _fact(statement).learner_name == "J" * _column_length(Learner.__table__.c.display_name)


def test_identifiers_that_would_not_fit_the_database_are_refused() -> None:
    # Refused at the door rather than by PostgreSQL (a 500) or silently kept whole by SQLite.
    system_len = _column_length(LearnerIdentifier.__table__.c.system)
    longest_home = "http://x.org/" + "h" * (system_len - len("xapi:") - len("http://x.org/"))
    fact = _fact(helpers.statement(home=longest_home))
    assert len(fact.identifier_system) == system_len
    error = _error([helpers.statement(home=longest_home + "h")])
    assert error.field == "statements[0].actor.account.homePage"


def test_context_and_definition_fields_that_would_not_fit_are_dropped() -> None:
    statement = helpers.statement()
    statement["object"]["definition"]["type"] = "http://x.org/" + "t" * 300
    statement["object"]["definition"]["name"] = {"en": "n" * 600}
    parents = statement["context"]["contextActivities"]["parent"]
    parents[1]["id"] = "http://x.org/" + "c" * 1100
    fact = _fact(statement)
    assert fact.activity_type is None
    assert fact.course_ref is None
    assert len(fact.activity_name) == _column_length(Activity.__table__.c.name)


def test_longest_accepted_values_can_be_stored(db: Database, host: PluginHost) -> None:
    # SQLite ignores VARCHAR lengths; PostgreSQL would refuse the batch with a 500.
    system_len = _column_length(LearnerIdentifier.__table__.c.system)
    home = "http://x.org/" + "h" * (system_len - len("xapi:") - len("http://x.org/"))
    by_account = helpers.statement(home=home, user="u" * _column_length(LearnerIdentifier.__table__.c.value))
    by_account["actor"]["name"] = {"fr": "N" * 400}
    by_account["object"]["id"] = "http://x.org/" + "o" * (_column_length(Activity.__table__.c.source_id) - 13)
    by_account["object"]["definition"]["name"] = {"en": "a" * 600}
    by_account["object"]["definition"]["type"] = "http://x.org/" + "t" * (
        _column_length(Activity.__table__.c.kind) - 13
    )
    parents = by_account["context"]["contextActivities"]["parent"]
    parents[1]["id"] = "http://x.org/" + "c" * (_column_length(Activity.__table__.c.course_ref) - 13)
    by_email = helpers.statement(cmid=2)
    by_email["actor"] = {"name": "M" * 300, "mbox": "mailto:" + "m" * 247 + "@univ.fr"}
    facts = [f for f in parse_batch([by_account, by_email], RECEIVED) if f is not None]
    assert len(facts) == 2
    with db.session() as s:
        tenant = helpers.make_tenant(s, host)
        assert ingest(s, host, tenant.est.id, facts).stored == 2
    with db.session() as s:
        assert len(list(s.scalars(select(LearnerIdentifier.value)))) == 2
        assert s.scalar(select(Learner.email).where(Learner.email.is_not(None))) == "m" * 247 + "@univ.fr"


@pytest.mark.parametrize(
    "parent",
    [
        "http://www.example.org/course/view.php?id=2",
        {"id": "http://x.org/c", "definition": "course"},
        {"id": "http://x.org/c", "definition": [1]},
        {"id": "http://x.org/c", "definition": {"type": ["a list"]}},
        {"id": "http://x.org/c", "definition": {"type": {"a": "mapping"}}},
        {"id": 3, "definition": {"type": "http://adlnet.gov/expapi/activities/course"}},
    ],
)
def test_odd_context_parents_give_no_course(parent: Any) -> None:
    # Context is free-form in xAPI: odd shapes must not crash the parser (they used to raise
    # AttributeError or TypeError, i.e. a 500 for the sender).
    statement = helpers.statement()
    statement["context"]["contextActivities"]["parent"] = [parent]
    assert _fact(statement).course_ref is None


def test_lone_surrogate_is_refused_naming_its_field() -> None:
    statement = json.loads(json.dumps(helpers.statement()).replace('"Module 1"', '"Module \\ud800"'))
    error = _error([helpers.statement(), statement])
    assert error.field == "statements[1].object.definition.name.en"
    experienced = _experienced()
    experienced["context"]["extensions"]["\udfff"] = 1
    assert _error([experienced]).field == "statements[0].context.extensions"


# --- batches ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [[], "statements", 42, None, True])
def test_body_must_be_a_non_empty_array_or_a_statement(body: Any) -> None:
    assert _error(body).field == "body"


def test_batch_size_is_limited() -> None:
    statements = [helpers.statement(user=str(i)) for i in range(MAX_BATCH)]
    facts = parse_batch(statements, RECEIVED)
    assert len(facts) == MAX_BATCH
    assert all(f is not None for f in facts)
    assert _error([*statements, helpers.statement()]).field == "body"


def test_batch_keeps_order_and_positions_of_skipped_statements() -> None:
    facts = parse_batch(
        [helpers.statement(user="a"), _experienced(), helpers.statement(user="b", verb="uncompleted")],
        RECEIVED,
    )
    assert [f.identifier_value if f else None for f in facts] == ["a", None, "b"]
    assert [f.state if f else None for f in facts] == ["passed", None, "incomplete"]


# --- properties -------------------------------------------------------------------------------------

# What json.loads can return: including NaN/Infinity, huge integers and lone surrogates.
_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=16,
)
# Values more likely to get deep into the parser than random ones.
_plausible = st.sampled_from(
    [
        "http://www.example.org",
        "mailto:a@b.fr",
        "2026-01-31T10:00:00Z",
        "0001-01-01T00:00:00+01:00",
        xapi.VERB_PASSED,
        EXPERIENCED,
        "Activity",
        "Agent",
        "https://w3id.org/xapi/cmi5/activitytype/course",
        {"scaled": 0.5},
        {"raw": 1, "min": 0, "max": 2},
        {"type": "https://w3id.org/xapi/cmi5/activitytype/course"},
    ]
)
_value = _json | _plausible


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def _mutated_reference(draw: st.DrawFn) -> Statement:
    """A real statement with one to three places replaced (or removed) by arbitrary JSON."""
    statement = helpers.statement(
        verb=draw(st.sampled_from(["completed", "passed", "failed", "uncompleted"]))
    )
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(statement)[1:]))
        node: Any = statement
        for key in path[:-1]:
            node = node[key]
        if draw(st.booleans()) and isinstance(node, dict):
            del node[path[-1]]
        else:
            node[path[-1]] = copy.deepcopy(draw(_value))  # never mutate the shared samples
        if not _paths(statement)[1:]:
            break
    return statement


def _check_facts(facts: list[CompletionFact | None]) -> None:
    for fact in facts:
        if fact is None:
            continue
        assert fact.state in COMPLETION_STATES
        assert fact.grade is None or (math.isfinite(fact.grade) and -1 <= fact.grade <= 1)
        assert fact.occurred_at.utcoffset() == timedelta(0)
        assert len(fact.identifier_system) <= 255
        assert len(fact.identifier_value) <= 255
        assert len(fact.learner_name) <= 255
        uuid.UUID(fact.statement_id)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_json)
def test_parse_batch_only_raises_invalid_input_on_any_json(body: Any) -> None:
    try:
        facts = parse_batch(body, RECEIVED)
    except InvalidInput as exc:
        assert exc.field
        return
    _check_facts(facts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statement=_mutated_reference())
def test_parse_batch_only_raises_invalid_input_on_damaged_statements(statement: Statement) -> None:
    try:
        facts = parse_batch([statement], RECEIVED)
    except InvalidInput as exc:
        assert exc.field is not None
        assert exc.field.startswith("statements[0]")
        return
    _check_facts(facts)


# --- the fast path: only ever what the checked path says -------------------------------------------


def _both_paths(statement: Any) -> tuple[Any, Any]:
    """(fast path's answer, checked path's answer or the InvalidInput it raised)."""
    fast = xapi._fast_statement(statement, RECEIVED)
    try:
        checked: Any = xapi._checked_statement(statement, "statement", RECEIVED)
    except InvalidInput as exc:
        checked = exc
    return fast, checked


# The places the fast path checks, and values at the edges of what each check lets through.
_CHECKED_PATHS = [
    ("id",),
    ("actor",),
    ("actor", "objectType"),
    ("actor", "account"),
    ("actor", "account", "homePage"),
    ("actor", "account", "name"),
    ("verb",),
    ("verb", "id"),
    ("object",),
    ("object", "objectType"),
    ("object", "id"),
    ("result",),
    ("result", "success"),
    ("result", "score"),
    ("result", "score", "scaled"),
    ("timestamp",),
    ("context",),
]
_EDGE_VALUES: list[Any] = [
    "",
    " ",
    "\t\n",
    "x" * 64,
    "x" * 65,
    "x" * 255,
    "x" * 256,
    "http://a.org/" + "a" * 238,
    "http://a.org/" + "a" * 1012,
    "http://a b",
    "http://a.org/\n",
    "urn:x",
    str(uuid.UUID(int=2**128 - 7)),
    str(uuid.UUID(int=2**128 - 7)).upper(),
    "{" + str(uuid.UUID(int=2**128 - 7)) + "}",
    "2026-01-31T10:00:00",
    "2026-01-31T10:00:00Z",
    "2026-01-31T10:00:00+01:00",
    "0001-01-01T00:00:00+01:00",
    "2026-13-01T10:00:00Z",
    "Agent",
    "Group",
    "Activity",
    "SubStatement",
    True,
    False,
    0,
    1,
    -1,
    1.0000001,
    -1.5,
    math.nan,
    None,
    [],
    {},
    {"scaled": True},
    {"scaled": 0.25},
    {"scaled": 1.5},
    {"scaled": -2},
    {"scaled": math.inf},
    {"raw": 1, "max": 2},
]
_EDGES = st.sampled_from(_EDGE_VALUES)


@st.composite
def _edited_reference(draw: st.DrawFn) -> Statement:
    """A real statement (sometimes with an id) with one to three checked places set to edge values."""
    statement = helpers.statement(
        user=draw(st.sampled_from(["1", "u 2", "x" * 255])),
        verb=draw(st.sampled_from(["completed", "passed", "failed", "uncompleted"])),
    )
    if draw(st.booleans()):
        statement["id"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    for _ in range(draw(st.integers(1, 3))):
        *parents, last = draw(st.sampled_from(_CHECKED_PATHS))
        node: Any = statement
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if draw(st.integers(0, 4)) == 0:
            node.pop(last, None)
        else:
            node[last] = copy.deepcopy(draw(_EDGES))
    return statement


def test_fast_path_agrees_at_every_edge_of_every_place_it_checks() -> None:
    """Each edge value at each checked place, alone: the cases the random edits reach too rarely."""
    for path in _CHECKED_PATHS:
        for value in [*_EDGE_VALUES, "<removed>"]:
            for with_id in (False, True):
                statement = helpers.statement(user="5")
                if with_id:
                    statement["id"] = str(uuid.UUID(int=2**127 + 5))
                *parents, last = path
                node: Any = statement
                for key in parents:
                    node = node.setdefault(key, {})
                if value == "<removed>":
                    node.pop(last, None)
                else:
                    node[last] = copy.deepcopy(value)
                fast, checked = _both_paths(statement)
                where = f"{'.'.join(path)} = {value!r}"
                if isinstance(checked, InvalidInput):
                    assert fast is xapi._UNSURE, where
                else:
                    assert fast is xapi._UNSURE or fast == checked, where


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statement=_edited_reference() | _mutated_reference() | _json)
def test_fast_path_accepts_only_what_the_checked_path_accepts_with_the_same_fact(statement: Any) -> None:
    fast, checked = _both_paths(statement)
    if isinstance(checked, InvalidInput):
        assert fast is xapi._UNSURE
    else:
        assert fast is xapi._UNSURE or fast == checked


@pytest.mark.parametrize("name", ["module-completed", "module-uncompleted"])
def test_fast_path_answers_for_what_moodle_sends(name: str) -> None:
    """Without this the property above would hold for a fast path that never answers."""
    for statement in _reference(name):
        fast, checked = _both_paths(statement)
        assert fast is not xapi._UNSURE
        assert fast == checked


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.update(id=str(uuid.uuid4())),
        lambda s: s["result"].update(score={"scaled": -1}),
        lambda s: s["result"].pop("success"),
        lambda s: s.update(verb={"id": EXPERIENCED}),
        lambda s: s.pop("timestamp", None),
        lambda s: s.update(timestamp="2026-03-01T10:00:00+02:00"),
    ],
)
def test_fast_path_answers_for_common_variants(change: Callable[[Statement], None]) -> None:
    statement = helpers.statement(user="7")
    change(statement)
    fast, checked = _both_paths(statement)
    assert fast is not xapi._UNSURE
    assert fast == checked


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s.update(id=str(uuid.uuid4()).upper()),  # valid, but not in canonical form
        lambda s: s.update(actor={"mbox": "mailto:Ann@Example.org"}),
        lambda s: s["result"].update(score={"raw": 3, "min": 0, "max": 4}),
    ],
)
def test_fast_path_leaves_the_less_common_forms_to_the_checked_path(
    change: Callable[[Statement], None],
) -> None:
    statement = helpers.statement(user="7")
    change(statement)
    fast, checked = _both_paths(statement)
    assert fast is xapi._UNSURE
    assert isinstance(checked, CompletionFact)
    assert parse_batch([statement], RECEIVED) == [checked]
