"""The Pégase adapter against the fake: login and token reuse, the connection check, learners
mapped to LMS learners, results turned into certification ratings, and the CLI."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from acquis.cli.main import cli
from acquis.core import adapters, certification, establishments, frameworks
from acquis.core import runtime as runtime_module
from acquis.core.db import Database
from acquis.core.errors import PermanentDeliveryError, TransientDeliveryError
from acquis.core.events import AdapterContext, EstablishmentRef
from acquis.core.models import CompetencyRating, Establishment, Learner, LearnerIdentifier
from acquis.core.plugins import PluginHost
from acquis.plugins.openbadges import plugin as native_plugin
from acquis.plugins.pegase.client import PegaseClient, jwt_expiry
from acquis.plugins.pegase.plugin import PegasePlugin, config_of
from acquis.plugins.pegase.sync import (
    SYSTEM_CODE,
    SYSTEM_IDT,
    SYSTEM_INE,
    import_results,
    maquette,
    sync_learners,
)
from tests import helpers
from tests.conftest import TEST_KEY
from tests.fakes.pegase import FakePegase, FakeResult, FakeStudent, running, settings_for

RNCP = {
    "code": "lic-info",
    "title": "Licence informatique (blocs RNCP)",
    "scale": {
        "levels": ["Non acquis", "En cours d'acquisition", "Acquis", "Maîtrisé"],
        "start": 0,
        "pass": 2,
    },
    "blocks": [
        {
            "code": "BC01",
            "title": "Programmer",
            "competencies": [{"code": "UE-ALGO", "title": "Algorithmique"}],
        },
        {
            "code": "BC02",
            "title": "Développer pour le web",
            "competencies": [
                {"code": "UE-WEB", "title": "Web"},
                {"code": "C-BDD", "title": "Bases de données"},
            ],
        },
    ],
}


def _students() -> list[FakeStudent]:
    return [
        FakeStudent(  # matched by email: 17/20 admitted, 12/20 admitted, DB (another code) 9/20 failed
            "10000001",
            "0123456789a",
            "Lucie",
            "Martin",
            "Lucie.Martin@etu.example.fr",
            results=[
                FakeResult("UE-ALGO", "Algorithmique", "ADM", 17),
                FakeResult("UE-WEB", "Web", "ADM", 12),
                FakeResult("UE-BDD", "Bases de données", "AJ", 9),
                FakeResult("UE-LV", "Anglais", "ADM", 15),  # no competency: skipped
            ],
        ),
        FakeStudent(  # matched by email; unpublished and undeliberated results are not evidence
            "10000002",
            None,
            "Estelle",
            "Durand",
            "estelle@etu.example.fr",
            results=[
                FakeResult("UE-ALGO", "Algorithmique", "AJ", 5),
                FakeResult("UE-WEB", "Web", published=False),
                FakeResult("UE-BDD", "Bases de données", result=None, mark=None),
            ],
        ),
        FakeStudent("10000003", "9876543210B", "Sam", "Bernard", "sam@elsewhere.fr"),  # not in the LMS
        FakeStudent("10000004", None, "Ana", "Cancel", "ana@etu.example.fr", cancelled=True),
    ]


@pytest.fixture
def fake() -> FakePegase:
    f = FakePegase()
    f.students = _students()
    return f


@pytest.fixture
def url(fake: FakePegase) -> Iterator[str]:
    with running(fake) as u:
        yield u


def _ctx(settings: dict[str, str]) -> AdapterContext:
    return AdapterContext(EstablishmentRef(1, "univ-a", "Université A", "fr"), settings, "http://acquis.test")


def _learner(s: Any, est: Establishment, name: str, email: str | None) -> int:
    learner = Learner(establishment_id=est.id, display_name=name, email=email)
    s.add(learner)
    s.flush()
    return learner.id


@pytest.fixture
def tenant(db: Database, host: PluginHost, fake: FakePegase, url: str) -> dict[str, int]:
    with db.session() as s:
        est = helpers.make_tenant(s, host, "univ-a").est
        frameworks.import_definition(s, est, copy.deepcopy(RNCP))
        ids = {
            "lucie": _learner(s, est, "Lucie Martin", "lucie.martin@etu.example.fr"),
            "estelle": _learner(s, est, "Estelle Durand", "estelle@etu.example.fr"),
            "ana": _learner(s, est, "Ana", "ana@etu.example.fr"),
        }
        adapters.update_settings(s, host, est, "pegase", settings_for(fake, url))
        adapters.set_enabled(s, host, est, "pegase", True)
    return ids


def _client(fake: FakePegase, url: str, **overrides: str) -> PegaseClient:
    return PegaseClient(config_of(settings_for(fake, url, **overrides), timeout=5))


# ---- login and check ---------------------------------------------------------------------------


def test_the_jwt_is_reused_until_it_nears_its_expiry(fake: FakePegase, url: str) -> None:
    now = [1_000_000.0]
    client = PegaseClient(config_of(settings_for(fake, url), timeout=5), clock=lambda: now[0])
    first = client.token()
    exp = jwt_expiry(first)
    assert exp is not None
    now[0] = exp - 120  # still two minutes to go: kept
    assert client.token() == first and fake.calls["tickets"] == 1
    now[0] = exp - 30  # within the margin: a new one
    assert client.token() != first and fake.calls["tickets"] == 2


def test_an_expired_token_rejected_by_the_api_is_renewed_once(fake: FakePegase, url: str) -> None:
    client = _client(fake, url)
    client.token()
    fake.tokens.clear()  # the server forgot it (restart, revocation)
    assert len(list(client.iter_inscriptions(fake.periode))) == 4
    assert fake.calls["tickets"] == 2


def test_check_says_what_to_fix(fake: FakePegase, url: str) -> None:
    plugin = PegasePlugin(timeout=5)
    ok = plugin.check(_ctx(settings_for(fake, url)))
    assert ok.ok and "4 inscription(s)" in ok.message, ok.message

    bad_password = plugin.check(_ctx(settings_for(fake, url, password="wrong-pw-123")))
    assert not bad_password.ok and "username and password" in bad_password.message
    assert "wrong-pw-123" not in bad_password.message

    wrong_cas = plugin.check(_ctx(settings_for(fake, url, auth_url=url + "/nothing")))
    assert not wrong_cas.ok and "auth_url" in wrong_cas.message

    wrong_ins = plugin.check(_ctx(settings_for(fake, url, ins_url=url + "/api/ins/ext/v1")))
    assert not wrong_ins.ok and "ins_url" in wrong_ins.message

    unreachable = plugin.check(_ctx(settings_for(fake, url, auth_url="http://127.0.0.1:9/cas")))
    assert not unreachable.ok and "cannot reach" in unreachable.message and "auth_url" in unreachable.message

    missing = plugin.check(_ctx({k: v for k, v in settings_for(fake, url).items() if k != "password"}))
    assert not missing.ok and "password" in missing.message


def test_client_errors_are_typed(fake: FakePegase, url: str) -> None:
    with pytest.raises(PermanentDeliveryError, match="credentials"):
        _client(fake, url, password="nope").token()
    with pytest.raises(TransientDeliveryError):
        _client(fake, url, coc_url="http://127.0.0.1:9/api").results(fake.periode, "10000001", "LIC-INFO")


# ---- learners ------------------------------------------------------------------------------------


def _identifiers(db: Database) -> set[tuple[int, str, str]]:
    with db.session() as s:
        return {
            (r.learner_id, r.system, r.value)
            for r in s.scalars(select(LearnerIdentifier).where(LearnerIdentifier.system.like("pegase:%")))
        }


def test_learners_are_matched_by_email_then_by_their_identifiers(
    db: Database, fake: FakePegase, url: str, tenant: dict[str, int]
) -> None:
    with db.session() as s:
        report = sync_learners(s, establishments.get(s, "univ-a"), _client(fake, url).iter_inscriptions())
    lucie, estelle = tenant["lucie"], tenant["estelle"]
    assert sorted(report.matched) == [("10000001", lucie), ("10000002", estelle)]
    assert report.unmatched == ["10000003"] and report.conflicts == []  # cancelled Ana is ignored
    ids = _identifiers(db)
    assert (lucie, SYSTEM_CODE, "10000001") in ids and (lucie, SYSTEM_INE, "0123456789A") in ids
    assert (lucie, SYSTEM_IDT, "6f1c2a1e-0000-4000-8000-000010000001") in ids
    assert {(lid, system) for lid, system, _ in ids if lid == estelle} == {
        (estelle, SYSTEM_CODE),
        (estelle, SYSTEM_IDT),
    }

    # Lucie's email changes in Pégase: she is found again by her code, nothing is duplicated.
    fake.students[0].email = "lucie@new.example.fr"
    with db.session() as s:
        again = sync_learners(s, establishments.get(s, "univ-a"), _client(fake, url).iter_inscriptions())
    assert again.added == 0 and sorted(again.matched) == [("10000001", lucie), ("10000002", estelle)]
    assert _identifiers(db) == ids


def test_an_identifier_held_by_another_learner_is_a_conflict_not_a_move(
    db: Database, fake: FakePegase, url: str, tenant: dict[str, int]
) -> None:
    lucie, ana = tenant["lucie"], tenant["ana"]
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        s.add(
            LearnerIdentifier(establishment_id=est.id, learner_id=lucie, system=SYSTEM_CODE, value="10000001")
        )
        s.add(
            LearnerIdentifier(establishment_id=est.id, learner_id=ana, system=SYSTEM_INE, value="0123456789A")
        )
    with db.session() as s:
        report = sync_learners(s, establishments.get(s, "univ-a"), _client(fake, url).iter_inscriptions())
    assert ("10000001", lucie) in report.matched  # by her code, which comes first
    assert report.conflicts == [
        f"10000001: pegase:ine=0123456789A already belongs to learner {ana}, not {lucie}"
    ]
    assert (ana, SYSTEM_INE, "0123456789A") in _identifiers(db)
    assert (lucie, SYSTEM_INE, "0123456789A") not in _identifiers(db)


# ---- results -------------------------------------------------------------------------------------


def _ratings(db: Database) -> dict[tuple[int, str], tuple[int, str, str]]:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        fw = frameworks.get(s, est, "lic-info")
        codes = {c.id: c.code for c in fw.competencies}
        return {
            (r.learner_id, codes[r.competency_id]): (r.rating, r.source, r.comment)
            for r in s.scalars(select(CompetencyRating))
        }


def test_results_rate_the_blocks(db: Database, fake: FakePegase, url: str, tenant: dict[str, int]) -> None:
    client = _client(fake, url)
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        sync_learners(s, est, client.iter_inscriptions())
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        report = import_results(s, est, client, "lic-info", fake.periode, "LIC-INFO", {"UE-BDD": "C-BDD"})
    lucie, estelle = tenant["lucie"], tenant["estelle"]
    ratings = _ratings(db)
    assert {k: v[0] for k, v in ratings.items()} == {
        (lucie, "UE-ALGO"): 3,  # ADM, 17/20
        (lucie, "UE-WEB"): 2,  # ADM, 12/20
        (lucie, "C-BDD"): 1,  # AJ, 9/20: partly acquired
        (estelle, "UE-ALGO"): 0,  # AJ, 5/20
    }
    assert ratings[(lucie, "UE-ALGO")][1:] == ("pegase", "LIC-INFO>UE-ALGO: ADM, 17/20")
    assert sorted(report.pending) == [(estelle, "C-BDD"), (estelle, "UE-WEB")]
    assert report.outcomes == {lucie: certification.PART, estelle: certification.REFUSED}
    assert report.missing == []

    # Importing again changes nothing; a deliberation that turns AJ into ADM updates one rating.
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        again = import_results(s, est, client, "lic-info", fake.periode, "LIC-INFO", {"UE-BDD": "C-BDD"})
    assert again.rated == [] and again.unchanged == 4
    fake.students[0].results[2] = FakeResult("UE-BDD", "Bases de données", "ADM", 10)
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        third = import_results(s, est, client, "lic-info", fake.periode, "LIC-INFO", {"UE-BDD": "C-BDD"})
        assert third.rated == [(lucie, "C-BDD", 2)] and third.outcomes == {lucie: certification.FULL}
        row = s.scalar(
            select(CompetencyRating).where(
                CompetencyRating.learner_id == lucie,
                CompetencyRating.rating == 2,
                CompetencyRating.comment.like("%UE-BDD%"),
            )
        )
        assert row is not None and [h["rating"] for h in row.history] == [1, 2]


# ---- CLI -----------------------------------------------------------------------------------------


@pytest.fixture
def run(db: Database, host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(runtime_module, "PluginHost", lambda: host)
    env = {
        "ACQUIS_DATABASE_URL": db.settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_PUBLIC_URL": "https://badges.univ.fr",
    }

    def _run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)

    return _run


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(
        load_entry_points=False, plugins=[("openbadges", native_plugin), ("pegase", PegasePlugin(timeout=5))]
    )


def test_cli_sync_then_import(run: Any, db: Database, host: PluginHost, tenant: dict[str, int]) -> None:
    synced = run("pegase", "sync-learners", "univ-a")
    assert synced.exit_code == 0, synced.output
    assert "2 learner(s) matched" in synced.output and "unmatched\t10000003" in synced.output
    imported = run(
        "pegase", "import-results", "univ-a", "lic-info", "--chemin", "LIC-INFO", "--map", "UE-BDD=C-BDD"
    )
    assert imported.exit_code == 0, imported.output
    assert "4 rating(s) recorded" in imported.output
    assert f"outcome\tlearner {tenant['lucie']}\tvalidated_in_part" in imported.output
    bad = run("pegase", "import-results", "univ-a", "lic-info", "--chemin", "LIC-INFO", "--map", "oops")
    assert bad.exit_code != 0 and "PEGASE_OBJECT_CODE=COMPETENCY_CODE" in bad.output


def test_cli_bad_credentials_are_one_line_without_the_password(
    run: Any, db: Database, host: PluginHost, tenant: dict[str, int]
) -> None:
    with db.session() as s:
        adapters.update_settings(
            s, host, establishments.get(s, "univ-a"), "pegase", {"password": "s3cr3t-wrong"}
        )
    result = run("pegase", "sync-learners", "univ-a")
    assert result.exit_code != 0 and "username and password" in result.output
    assert "s3cr3t-wrong" not in result.output and "Traceback" not in result.output


def test_the_maquette_tree_of_a_cursus(fake: FakePegase, url: str) -> None:
    tree = maquette(_client(fake, url).cursus("10000001"))
    assert tree[0] == (0, "LIC-INFO", "Licence LIC-INFO", "Formation")
    assert [(depth, code) for depth, code, _, _ in tree[1:]] == [
        (1, "UE-ALGO"),
        (1, "UE-WEB"),
        (1, "UE-BDD"),
        (1, "UE-LV"),
    ]
    assert maquette(_client(fake, url).cursus("99999999")) == []


def test_a_student_unknown_to_coc_is_reported_and_the_others_rated(
    db: Database, fake: FakePegase, url: str, tenant: dict[str, int]
) -> None:
    client = _client(fake, url)
    learners = {"10000001": tenant["lucie"], "10000099": tenant["ana"]}  # Ana's code is unknown to COC
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        report = import_results(s, est, client, "lic-info", fake.periode, "LIC-INFO", {}, learners=learners)
    assert report.missing == ["10000099"]
    assert {competency for _, competency, _ in report.rated} == {"UE-ALGO", "UE-WEB"}
