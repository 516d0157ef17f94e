"""Validated levels rated back in Moodle, through the real outbox and the HTTP fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from acquis.core import adapters, establishments, snapshots, tags
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.ingest import ingest
from acquis.core.models import OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from acquis.plugins.moodle.client import MoodleClient, MoodleConfig
from acquis.plugins.moodle.plugin import MoodlePlugin
from acquis.plugins.moodle.sync import activity_id, sync_completions
from acquis.plugins.openbadges import plugin as native_plugin
from tests import helpers
from tests.conftest import PUBLIC_URL
from tests.fakes.moodle import COURSE, TOKEN, FakeMoodle, FakeToken, demo_site, running

TOPIC = "competency_validated"


@pytest.fixture
def fake() -> FakeMoodle:
    return demo_site(FakeMoodle())


@pytest.fixture
def url(fake: FakeMoodle) -> Iterator[str]:
    with running(fake) as u:
        yield u


@pytest.fixture
def moodle() -> MoodlePlugin:
    return MoodlePlugin(timeout=2)


@pytest.fixture
def mhost(moodle: MoodlePlugin) -> PluginHost:
    return PluginHost(load_entry_points=False, plugins=[("moodle", moodle), ("openbadges", native_plugin)])


def _tenant(db: Database, host: PluginHost, url: str, **settings: str) -> helpers.Tenant:
    """C1 Novice ← quiz 11 passed; C1 Intermédiaire ← quiz 14 passed; C2 Novice ← essay 12."""
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        for competency, level, cmid, modname, trigger in (
            ("C1", "Novice", 11, "quiz", "success"),
            ("C1", "Intermédiaire", 14, "quiz", "success"),
            ("C2", "Novice", 12, "assign", "completion"),
        ):
            lv = tags.find_level(s, t.est, competency, level)
            tags.add_rule(s, t.est, lv, [activity_id(url, modname, cmid)], trigger)
        values = {"wwwroot": url, "token": TOKEN, "course_id": str(COURSE), **settings}
        values = {k: v for k, v in values.items() if v != ""}  # "" leaves the setting unset
        adapters.update_settings(s, host, t.est, "moodle", values)
        adapters.set_enabled(s, host, t.est, "moodle", True)
    return t


def _sync(db: Database, host: PluginHost, url: str) -> None:
    with db.session() as s:
        est_id = establishments.get(s, "univ-a").id
    sync_completions(db.session, host, est_id, MoodleClient(MoodleConfig(url, TOKEN, 5)), COURSE)


def _messages(db: Database) -> list[OutboxMessage]:
    with db.session() as s:
        return list(
            s.scalars(select(OutboxMessage).where(OutboxMessage.topic == TOPIC).order_by(OutboxMessage.id))
        )


def _deliver(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        s.execute(
            update(OutboxMessage).where(OutboxMessage.status == "pending").values(available_at=utcnow())
        )
    Deliverer(db, host, "w1", PUBLIC_URL).run_once()


def test_validated_levels_are_rated_in_the_course(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    _tenant(db, mhost, url)
    _sync(db, mhost, url)
    _deliver(db, mhost)
    # Alice: C1 Novice (passed 11), C2 Novice (completed 12); Chloé: quiz 11 completed without a
    # pass, so neither C1 level (14 passed waits on Novice); Bruno failed.
    assert fake.ratings == {(COURSE, 101, 501): 1, (COURSE, 101, 502): 1}
    assert {m.status for m in _messages(db)} == {"done"}
    calls = [dict(f) for f in fake.forms if ("wsfunction", "core_competency_grade_competency_in_course") in f]
    assert len(calls) == 2
    for call, message in zip(sorted(calls, key=lambda c: c["competencyid"]), _messages(db), strict=True):
        assert call["courseid"] == str(COURSE) and call["userid"] == "101" and call["grade"] == "1"
        assert f"delivery acquis-{message.id}" in call["note"]


def test_a_higher_level_gets_its_position_in_moodle_s_scale(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    _tenant(db, mhost, url)
    fake.completions[(103, 11)] = (2, 1_767_000_450)  # Chloé passed quiz 11 after all: Novice, then 14
    _sync(db, mhost, url)
    _deliver(db, mhost)
    assert fake.ratings[(COURSE, 103, 501)] == 2  # Intermédiaire is the scale's second value
    grading = ("wsfunction", "core_competency_grade_competency_in_course")
    grades = [dict(f)["grade"] for f in fake.forms if grading in f and ("userid", "103") in f]
    assert sorted(grades) == ["1", "2"]


def test_scale_start_shifts_ranks_onto_moodle_values(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    _tenant(db, mhost, url, scale_start="0")
    _sync(db, mhost, url)
    _deliver(db, mhost)
    assert fake.ratings == {(COURSE, 101, 501): 2, (COURSE, 101, 502): 2}


def test_redelivery_with_the_same_delivery_id_is_not_sent_again(
    db: Database, mhost: PluginHost, moodle: MoodlePlugin, url: str, fake: FakeMoodle
) -> None:
    t = _tenant(db, mhost, url)
    _sync(db, mhost, url)
    _deliver(db, mhost)
    sent = fake.calls["core_competency_grade_competency_in_course"]
    message = _messages(db)[0]
    with db.session() as s:
        ctx = adapters.context(s, t.est, "moodle", PUBLIC_URL, f"acquis-{message.id}")
        event = snapshots.validation_event(s, int(message.payload["validation_id"]))
    moodle.competency_validated(ctx, event)  # what a retry after a lost commit would do
    assert fake.calls["core_competency_grade_competency_in_course"] == sent
    # Another worker process (nothing remembered): Moodle's evidence carries the delivery id.
    fake.ratings.clear()  # even if the rating itself had been changed since
    MoodlePlugin(timeout=2).competency_validated(ctx, event)
    assert fake.calls["core_competency_grade_competency_in_course"] == sent and fake.ratings == {}
    # A new delivery of the same validation is written (e.g. an admin's replay after a reset).
    with db.session() as s:
        other = adapters.context(s, t.est, "moodle", PUBLIC_URL, "acquis-replay")
    MoodlePlugin(timeout=2).competency_validated(other, event)
    assert fake.calls["core_competency_grade_competency_in_course"] == sent + 1


def test_a_late_lower_level_never_lowers_a_rating(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    t = _tenant(db, mhost, url)
    fake.completions[(103, 11)] = (2, 1_767_000_450)
    _sync(db, mhost, url)
    _deliver(db, mhost)
    assert fake.ratings[(COURSE, 103, 501)] == 2
    with db.session() as s:
        events = [snapshots.validation_event(s, int(m.payload["validation_id"])) for m in _messages(db)]
        ctx = adapters.context(s, t.est, "moodle", PUBLIC_URL, "acquis-late-retry")
    (chloe_novice,) = [e for e in events if e.learner.display_name == "Chloé Roux" and e.level_rank == 1]
    sent = fake.calls["core_competency_grade_competency_in_course"]
    MoodlePlugin(timeout=2).competency_validated(ctx, chloe_novice)
    assert (
        fake.ratings[(COURSE, 103, 501)] == 2
        and fake.calls["core_competency_grade_competency_in_course"] == sent
    )
    # A teacher's higher rating stands too.
    fake.ratings[(COURSE, 101, 502)] = 4
    (alice_c2,) = [
        e for e in events if e.learner.display_name == "Alice Martin" and e.competency_code == "C2"
    ]
    with db.session() as s:
        ctx2 = adapters.context(s, t.est, "moodle", PUBLIC_URL, "acquis-other")
    MoodlePlugin(timeout=2).competency_validated(ctx2, alice_c2)
    assert fake.ratings[(COURSE, 101, 502)] == 4


def test_learners_and_competencies_unknown_to_moodle_are_skipped(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    _tenant(db, mhost, url)
    fake.course_competencies[COURSE] = [501]  # C2 is not used in the course
    statement = helpers.statement(user="1", cmid=11)
    statement["actor"] = {"objectType": "Agent", "name": "Mail Only", "mbox": "mailto:mail.only@univ-a.fr"}
    statement["object"]["id"] = activity_id(url, "quiz", 11)
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        ingest(s, mhost, est.id, [f for f in parse_batch([statement], utcnow()) if f])
    _sync(db, mhost, url)
    _deliver(db, mhost)
    assert fake.ratings == {(COURSE, 101, 501): 1}
    assert len(_messages(db)) == 3 and {m.status for m in _messages(db)} == {"done"}


def test_without_a_course_nothing_is_written(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    _tenant(db, mhost, url, course_id="")
    _sync(db, mhost, url)
    before = sum(fake.calls.values())
    _deliver(db, mhost)
    assert fake.ratings == {} and sum(fake.calls.values()) == before
    assert {m.status for m in _messages(db)} == {"done"}


def test_write_back_can_be_switched_off(db: Database, mhost: PluginHost, url: str, fake: FakeMoodle) -> None:
    _tenant(db, mhost, url, write_back="false")
    _sync(db, mhost, url)
    _deliver(db, mhost)
    assert fake.ratings == {} and fake.calls["core_competency_grade_competency_in_course"] == 0


def test_a_missing_capability_parks_the_message_with_what_to_fix(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    _tenant(db, mhost, url)
    _sync(db, mhost, url)
    fake.tokens[TOKEN] = FakeToken(
        user_id=2,
        capabilities=frozenset(
            {"moodle/competency:coursecompetencyview", "moodle/competency:usercompetencyview"}
        ),
    )
    _deliver(db, mhost)
    messages = _messages(db)
    assert {m.status for m in messages} == {"failed"}
    assert all("lacks a capability" in (m.last_error or "") for m in messages)
    assert all("(Rate competencies)" in (m.last_error or "") for m in messages)
    assert all(TOKEN not in (m.last_error or "") for m in messages)


def test_an_unavailable_moodle_is_retried_later(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    _tenant(db, mhost, url)
    _sync(db, mhost, url)
    fake.outage = 503
    _deliver(db, mhost)
    messages = _messages(db)
    assert {m.status for m in messages} == {"pending"} and all(m.attempts == 1 for m in messages)
    assert all("Moodle answered 503" in (m.last_error or "") for m in messages)
    fake.outage = None
    _deliver(db, mhost)
    assert {m.status for m in _messages(db)} == {"done"}
    assert fake.ratings == {(COURSE, 101, 501): 1, (COURSE, 101, 502): 1}


def test_a_learner_of_another_moodle_is_not_rated_here(
    db: Database, mhost: PluginHost, url: str, fake: FakeMoodle
) -> None:
    t = _tenant(db, mhost, url)
    _sync(db, mhost, url)
    with db.session() as s:  # the adapter now points at another site: user 101 there is someone else
        adapters.update_settings(
            s, mhost, t.est, "moodle", {"wwwroot": url.replace("127.0.0.1", "localhost")}
        )
    _deliver(db, mhost)
    assert fake.ratings == {} and fake.calls["core_competency_grade_competency_in_course"] == 0
