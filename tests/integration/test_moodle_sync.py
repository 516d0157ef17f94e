"""Catch-up sync: Moodle's completion states through the real pipeline, and again, and via xAPI."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from acquis.cli.main import cli
from acquis.core import adapters, establishments, tags
from acquis.core import runtime as runtime_module
from acquis.core.db import Database
from acquis.core.ingest import ingest
from acquis.core.models import (
    Activity,
    Award,
    Competency,
    Completion,
    Learner,
    LearnerIdentifier,
    Level,
    Validation,
    utcnow,
)
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from acquis.plugins.moodle.client import MoodleClient, MoodleConfig
from acquis.plugins.moodle.plugin import MoodlePlugin
from acquis.plugins.moodle.sync import activity_id, sync_completions
from acquis.plugins.openbadges import plugin as native_plugin
from tests import helpers
from tests.conftest import TEST_KEY
from tests.fakes.moodle import COURSE, T0, TOKEN, FakeMoodle, demo_site, running


@pytest.fixture
def fake() -> FakeMoodle:
    return demo_site(FakeMoodle())


@pytest.fixture
def url(fake: FakeMoodle) -> Iterator[str]:
    with running(fake) as u:
        yield u


@pytest.fixture
def mhost() -> PluginHost:
    return PluginHost(
        load_entry_points=False, plugins=[("moodle", MoodlePlugin(timeout=2)), ("openbadges", native_plugin)]
    )


def _tenant(db: Database, host: PluginHost, url: str) -> helpers.Tenant:
    """C1 Novice needs quiz 11 passed; C2 Novice needs the essay (12) completed."""
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        for competency, cmid, modname, trigger in (
            ("C1", 11, "quiz", "success"),
            ("C2", 12, "assign", "completion"),
        ):
            lv = tags.find_level(s, t.est, competency, "Novice")
            tags.add_rule(s, t.est, lv, [activity_id(url, modname, cmid)], trigger)
        adapters.update_settings(s, host, t.est, "moodle", {"wwwroot": url, "token": TOKEN})
        adapters.set_enabled(s, host, t.est, "moodle", True)
    return t


def _validated(db: Database) -> set[tuple[str, str, str]]:
    """(Moodle user id, competency, level) of every validated level."""
    with db.session() as s:
        rows = s.execute(
            select(LearnerIdentifier.value, Competency.code, Level.label)
            .join(Validation, Validation.learner_id == LearnerIdentifier.learner_id)
            .join(Level, Level.id == Validation.level_id)
            .join(Competency, Competency.id == Level.competency_id)
            .where(Validation.status == "validated")
        ).all()
    return {(r[0], r[1], r[2]) for r in rows}


def _count(db: Database, model: Any) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _sync(db: Database, host: PluginHost, url: str) -> Any:
    with db.session() as s:
        est_id = establishments.get(s, "univ-a").id
    return sync_completions(db.session, host, est_id, MoodleClient(MoodleConfig(url, TOKEN, 5)), COURSE)


def test_sync_feeds_every_state_through_the_pipeline(db: Database, mhost: PluginHost, url: str) -> None:
    _tenant(db, mhost, url)
    report = _sync(db, mhost, url)
    # 3 users × 4 modules; stored: 101 passed 11 + completed 12, 102 failed 11, 103 completed 11 + passed 14
    assert (report.users, report.statuses, report.stored, report.skipped) == (3, 12, 5, 7)
    assert _validated(db) == {("101", "C1", "Novice"), ("101", "C2", "Novice")}
    with db.session() as s:
        learners = {
            (i.system, i.value): s.get(Learner, i.learner_id) for i in s.scalars(select(LearnerIdentifier))
        }
        assert set(learners) == {(f"xapi:{url}", v) for v in ("101", "102", "103")}
        alice = learners[(f"xapi:{url}", "101")]
        assert alice is not None and alice.display_name == "Alice Martin"
        assert alice.email == "alice.martin@univ-a.fr"
        quiz = s.scalars(select(Activity).where(Activity.source_id == f"{url}/mod/quiz/view.php?id=11")).one()
        assert quiz.course_ref == f"{url}/course/view.php?id={COURSE}"
        states = {
            (c.learner_id, c.state, int(c.occurred_at.timestamp())) for c in s.scalars(select(Completion))
        }
        assert (alice.id, "passed", T0 + 100) in states and len(states) == 5
        assert {st for _, st, _ in states} == {"passed", "completed", "failed"}


def test_resync_stores_nothing_new(db: Database, mhost: PluginHost, url: str, fake: FakeMoodle) -> None:
    _tenant(db, mhost, url)
    _sync(db, mhost, url)
    before = (_count(db, Completion), _count(db, Validation), _count(db, Award))
    again = _sync(db, mhost, url)
    assert (again.stored, again.duplicates) == (0, 5)
    assert (_count(db, Completion), _count(db, Validation), _count(db, Award)) == before
    # A state that changed in Moodle since is new: Bruno passed the quiz on a second attempt.
    fake.completions[(102, 11)] = (2, T0 + 900)
    third = _sync(db, mhost, url)
    assert (third.stored, third.duplicates) == (1, 4)  # Moodle keeps the current state only
    assert ("102", "C1", "Novice") in _validated(db)


def _logstore_statement(url: str, user: str, cmid: int, modname: str, when: int) -> dict[str, Any]:
    """What logstore_xapi sends for the same completion (reference statement, this site)."""
    st = copy.deepcopy(helpers.reference_statement("module-completed"))
    st["actor"]["account"] = {"homePage": url, "name": user}
    st["object"]["id"] = f"{url}/mod/{modname}/view.php?id={cmid}"
    st["result"] = {"completion": True, "success": True}
    st["timestamp"] = datetime.fromtimestamp(when, UTC).isoformat()
    return st


def test_xapi_and_web_services_about_one_completion_make_one_validation(
    db: Database, mhost: PluginHost, url: str
) -> None:
    """The two channels hash differently (see acquis.plugins.moodle.sync): the completion is
    stored once per channel, but it is one learner, one activity, one validation, one award."""
    _tenant(db, mhost, url)
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        facts = parse_batch([_logstore_statement(url, "101", 11, "quiz", T0 + 100)], utcnow())
        ingest(s, mhost, est.id, [f for f in facts if f])
    assert _validated(db) == {("101", "C1", "Novice")}
    awards = _count(db, Award)
    _sync(db, mhost, url)
    assert _validated(db) == {("101", "C1", "Novice"), ("101", "C2", "Novice")}
    assert _count(db, Learner) == 3 and _count(db, Activity) == 3  # quiz 11 and essay 12 (tagged), quiz 14
    assert _count(db, Award) == awards + 1  # C2 only: C1's award is not made twice
    with db.session() as s:
        quiz_rows = s.scalar(
            select(func.count())
            .select_from(Completion)
            .join(Activity, Activity.id == Completion.activity_id)
            .where(Activity.source_id == f"{url}/mod/quiz/view.php?id=11")
            .where(Completion.occurred_at == datetime.fromtimestamp(T0 + 100, UTC))
        )
    assert quiz_rows == 2  # one row per channel, same state and time


@pytest.fixture
def run(db: Database, mhost: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(runtime_module, "PluginHost", lambda: mhost)
    env = {
        "ACQUIS_DATABASE_URL": db.settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_PUBLIC_URL": "https://badges.univ.fr",
    }

    def _run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return _run


def test_cli_sync_completions(run: Any, db: Database, mhost: PluginHost, url: str) -> None:
    _tenant(db, mhost, url)
    result = run("moodle", "sync-completions", "univ-a", "--course", str(COURSE))
    assert result.exit_code == 0, result.output
    assert (
        "3 user(s), 12 completion state(s): 5 stored, 0 already known, 7 incomplete or undated"
        in result.output
    )
    assert _validated(db) == {("101", "C1", "Novice"), ("101", "C2", "Novice")}
    again = run("moodle", "sync-completions", "univ-a", "--course", str(COURSE))
    assert "0 stored, 5 already known" in again.output


def test_cli_errors_are_one_line_without_the_token(
    run: Any, db: Database, mhost: PluginHost, url: str
) -> None:
    t = _tenant(db, mhost, url)
    with db.session() as s:
        adapters.update_settings(s, mhost, t.est, "moodle", {"token": "revoked-token-42"})
    result = run("moodle", "sync-completions", "univ-a", "--course", str(COURSE))
    assert result.exit_code != 0 and "does not know this token" in result.output
    assert "revoked-token-42" not in result.output and "Traceback" not in result.output
    missing = run("moodle", "sync-completions", "univ-a", "--course", "999")
    assert missing.exit_code != 0


def test_entry_point_registers_moodle() -> None:
    host = PluginHost()
    spec = host.spec("moodle")
    assert spec.field("token").secret  # type: ignore[union-attr]
    assert spec.field("wwwroot").kind == "url"  # type: ignore[union-attr]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the look-up runs on both elsewhere
def test_an_erased_learner_is_not_brought_back_by_a_sync(db: Database, mhost: PluginHost, url: str) -> None:
    """The web-services backfill drops the states of a learner erased on request, as ingest does."""
    from acquis.core import erasure, learner_export

    _tenant(db, mhost, url)
    _sync(db, mhost, url)
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        alice = learner_export.find(s, est, "101")
        owed = erasure.request_erasure(s, mhost, est, alice)
        assert owed == []  # nothing enabled revokes remotely here
        erasure.complete_erasure(s, est, alice)
    learners = _count(db, Learner)
    again = _sync(db, mhost, url)
    assert again.erased == 2 and again.stored == 0  # Alice's two completed states
    assert _count(db, Learner) == learners
    with db.session() as s:
        assert s.scalar(select(LearnerIdentifier).where(LearnerIdentifier.value == "101")) is None
