"""Moodle's activity–competency links imported as tags, matched by competency idnumber."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from acquis.cli.main import cli
from acquis.core import adapters, establishments
from acquis.core import runtime as runtime_module
from acquis.core.db import Database
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import Competency, Level, Validation, ValidationRule
from acquis.core.plugins import PluginHost
from acquis.plugins.moodle.client import MoodleClient, MoodleConfig
from acquis.plugins.moodle.plugin import MoodlePlugin
from acquis.plugins.moodle.sync import import_tags, sync_completions
from acquis.plugins.openbadges import plugin as native_plugin
from tests import helpers
from tests.conftest import TEST_KEY
from tests.fakes.moodle import COURSE, TOKEN, FakeMoodle, demo_site, running


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


@pytest.fixture
def tenant(db: Database, mhost: PluginHost, url: str) -> helpers.Tenant:
    with db.session() as s:
        t = helpers.make_tenant(s, mhost, "univ-a")
        adapters.update_settings(s, mhost, t.est, "moodle", {"wwwroot": url, "token": TOKEN})
    return t


def _client(url: str) -> MoodleClient:
    return MoodleClient(MoodleConfig(url, TOKEN, 5))


def _rules(db: Database) -> set[tuple[tuple[str, ...], str, str, str]]:
    with db.session() as s:
        out = set()
        for rule in s.scalars(select(ValidationRule)):
            level = s.get(Level, rule.level_id)
            assert level is not None
            comp = s.get(Competency, level.competency_id)
            assert comp is not None
            out.add((tuple(a.source_id for a in rule.activities), comp.code, level.label, rule.created_by))
        return out


def test_links_become_tags_and_a_rerun_adds_nothing(
    db: Database, mhost: PluginHost, url: str, tenant: helpers.Tenant
) -> None:
    with db.session() as s:
        report = import_tags(s, mhost, establishments.get(s, "univ-a"), _client(url), COURSE, "demo")
    quiz, essay, final = (
        f"{url}/mod/quiz/view.php?id=11",
        f"{url}/mod/assign/view.php?id=12",
        f"{url}/mod/quiz/view.php?id=14",
    )
    assert report.created == [(quiz, "C1", "Novice"), (essay, "C2", "Novice"), (final, "C1", "Novice")]
    assert report.unknown == [(final, "X9")]  # Moodle's X9 is no code of the framework
    assert _rules(db) == {
        ((quiz,), "C1", "Novice", "moodle"),
        ((essay,), "C2", "Novice", "moodle"),
        ((final,), "C1", "Novice", "moodle"),
    }
    with db.session() as s:
        again = import_tags(s, mhost, establishments.get(s, "univ-a"), _client(url), COURSE, "demo")
    assert again.created == [] and len(again.kept) == 3
    assert len(_rules(db)) == 3


def test_new_tags_apply_to_completions_already_synced(
    db: Database, mhost: PluginHost, url: str, tenant: helpers.Tenant
) -> None:
    sync_completions(db.session, mhost, tenant.est.id, _client(url), COURSE)
    with db.session() as s:
        report = import_tags(s, mhost, establishments.get(s, "univ-a"), _client(url), COURSE, "demo")
    assert report.applied == 3 + 1 + 1  # quiz 11: three learners; essay 12: Alice; quiz 14: Chloé
    with db.session() as s:
        validated = {
            (v.learner_id, s.get(Level, v.level_id).competency.code)  # type: ignore[union-attr]
            for v in s.scalars(select(Validation).where(Validation.status == "validated"))
        }
    # Alice passed 11 and completed 12; Chloé completed 11 and passed 14; Bruno failed 11.
    assert len(validated) == 3 and {code for _, code in validated} == {"C1", "C2"}


def test_tags_at_a_chosen_level_wait_for_the_level_below(
    db: Database, mhost: PluginHost, url: str, tenant: helpers.Tenant
) -> None:
    sync_completions(db.session, mhost, tenant.est.id, _client(url), COURSE)
    with db.session() as s:
        import_tags(s, mhost, establishments.get(s, "univ-a"), _client(url), COURSE, "demo", level="2")
        assert list(s.scalars(select(Validation))) == []  # Intermédiaire waits on Novice
    assert {r[2] for r in _rules(db)} == {"Intermédiaire"}


def test_unknown_framework_or_level(
    db: Database, mhost: PluginHost, url: str, tenant: helpers.Tenant
) -> None:
    with pytest.raises(NotFound), db.session() as s:
        import_tags(s, mhost, establishments.get(s, "univ-a"), _client(url), COURSE, "nope")
    with pytest.raises(InvalidInput, match="no level"), db.session() as s:
        import_tags(s, mhost, establishments.get(s, "univ-a"), _client(url), COURSE, "demo", level="Wizard")
    assert _rules(db) == set()  # nothing half-imported


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


def test_cli_import_tags(run: Any, db: Database, url: str, tenant: helpers.Tenant) -> None:
    result = run("moodle", "import-tags", "univ-a", "--course", str(COURSE), "--framework", "demo")
    assert result.exit_code == 0, result.output
    assert f"created\t{url}/mod/quiz/view.php?id=11\t→ C1 Novice" in result.output
    assert f"unknown\t{url}/mod/quiz/view.php?id=14\t'X9' is not a competency code of demo" in result.output
    again = run("moodle", "import-tags", "univ-a", "--course", str(COURSE), "--framework", "demo")
    assert "created" not in again.output and "kept" in again.output
