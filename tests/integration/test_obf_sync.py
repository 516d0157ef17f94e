"""Mapping badge classes to the establishment's OBF badges, from code and from the CLI."""

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
from acquis.core.errors import InvalidInput
from acquis.core.models import BadgeClass
from acquis.core.plugins import PluginHost
from acquis.plugins.obf.catalogue import sync_badges
from acquis.plugins.obf.client import OBFClient, OBFConfig
from acquis.plugins.obf.plugin import OBFPlugin
from acquis.plugins.openbadges import plugin as native_plugin
from tests import helpers
from tests.conftest import TEST_KEY
from tests.fakes.obf import FakeOBF, running

SECRET = "obf-secret-sync"


@pytest.fixture
def fake() -> FakeOBF:
    f = FakeOBF(token_interval=0)
    f.add_client(
        "CID",
        SECRET,
        (
            ("OBF-A", "Chercher l'information — Novice"),
            ("OBF-B", "gérer des données —  novice"),  # case and spacing differ
            ("OBF-C1", "Gérer des données — Expert"),
            ("OBF-C2", "Gérer des données — Expert"),  # two OBF badges with one name
            ("OBF-X", "Something else"),
        ),
    )
    f.badges["CID"].append(FakeOBF._badge("OBF-DRAFT", "Chercher l'information — Expert", draft=True))
    return f


@pytest.fixture
def url(fake: FakeOBF) -> Iterator[str]:
    with running(fake) as u:
        yield u


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(
        load_entry_points=False, plugins=[("obf", OBFPlugin(timeout=2)), ("openbadges", native_plugin)]
    )


@pytest.fixture
def tenant(db: Database, host: PluginHost, url: str) -> helpers.Tenant:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        adapters.update_settings(
            s, host, t.est, "obf", {"api_url": url, "client_id": "CID", "client_secret": SECRET}
        )
    return t


def _classes(db: Database) -> dict[str, tuple[str, str | None]]:
    with db.session() as s:
        return {b.name: (b.public_id, b.obf_badge_id) for b in s.scalars(select(BadgeClass))}


def _client(url: str) -> OBFClient:
    return OBFClient(OBFConfig("CID", SECRET, url, timeout=2))


def test_badge_classes_are_matched_by_unique_name_only(
    db: Database, tenant: helpers.Tenant, url: str
) -> None:
    with db.session() as s:
        report = sync_badges(s, establishments.get(s, "univ-a"), _client(url))
    classes = _classes(db)
    assert classes["Chercher l'information — Novice"][1] == "OBF-A"
    assert classes["Gérer des données — Novice"][1] == "OBF-B"
    assert classes["Gérer des données — Expert"][1] is None  # two candidates: no guess
    assert classes["Chercher l'information — Expert"][1] is None  # drafts cannot be issued
    assert report.obf_badges == 5
    assert [name for _p, name in report.ambiguous] == ["Gérer des données — Expert"]
    assert len(report.by_name) == 2 and len(report.unmapped) == len(classes) - 3


def test_explicit_mapping_wins_and_existing_mappings_are_kept(
    db: Database, tenant: helpers.Tenant, url: str, fake: FakeOBF
) -> None:
    expert = _classes(db)["Gérer des données — Expert"][0]
    novice = _classes(db)["Chercher l'information — Novice"][0]
    with db.session() as s:
        sync_badges(s, establishments.get(s, "univ-a"), _client(url), {expert: "OBF-C2", novice: "OBF-X"})
    classes = _classes(db)
    assert classes["Gérer des données — Expert"][1] == "OBF-C2"
    assert classes["Chercher l'information — Novice"][1] == "OBF-X"
    with db.session() as s:
        report = sync_badges(s, establishments.get(s, "univ-a"), _client(url))
    assert _classes(db) == classes  # a later sync keeps what the admin chose
    assert {name for _p, name, _o in report.kept} == {
        "Gérer des données — Expert",
        "Chercher l'information — Novice",
        "Gérer des données — Novice",  # matched by name the first time
    }
    fake.badges["CID"] = [b for b in fake.badges["CID"] if b["id"] != "OBF-C2"]
    with db.session() as s:
        report = sync_badges(s, establishments.get(s, "univ-a"), _client(url))
    assert [(name, obf_id) for _p, name, obf_id in report.stale] == [("Gérer des données — Expert", "OBF-C2")]
    assert _classes(db)["Gérer des données — Expert"][1] == "OBF-C2"  # not swapped for its namesake


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"no-such-class": "OBF-A"}, "no badge class"), ({"$novice": "OBF-DRAFT"}, "drafts cannot be issued")],
)
def test_a_wrong_mapping_changes_nothing(
    db: Database, tenant: helpers.Tenant, url: str, mapping: dict[str, str], message: str
) -> None:
    novice = _classes(db)["Chercher l'information — Novice"][0]
    mapping = {(novice if k == "$novice" else k): v for k, v in mapping.items()}
    before = _classes(db)
    with pytest.raises(InvalidInput, match=message), db.session() as s:
        sync_badges(s, establishments.get(s, "univ-a"), _client(url), mapping)
    assert _classes(db) == before


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


def test_cli_sync_badges(run: Any, db: Database, tenant: helpers.Tenant) -> None:
    expert = _classes(db)["Gérer des données — Expert"][0]
    result = run("obf", "sync-badges", "univ-a", "--map", f"{expert}=OBF-C1")
    assert result.exit_code == 0, result.output
    assert "5 badge(s) ready to issue in OBF" in result.output
    assert f"mapped\t{expert}\tGérer des données — Expert\t→ OBF-C1" in result.output
    assert "matched by name" in result.output and "unmapped" in result.output
    assert _classes(db)["Gérer des données — Expert"][1] == "OBF-C1"


def test_cli_sync_badges_errors_are_one_line(
    run: Any, db: Database, host: PluginHost, tenant: helpers.Tenant
) -> None:
    bad = run("obf", "sync-badges", "univ-a", "--map", "nonsense")
    assert bad.exit_code != 0 and "BADGECLASS_PUBLIC_ID=OBF_BADGE_ID" in bad.output
    assert "Traceback" not in bad.output
    with db.session() as s:
        adapters.update_settings(s, host, establishments.get(s, "univ-a"), "obf", {"client_secret": "nope"})
    refused = run("obf", "sync-badges", "univ-a")
    assert refused.exit_code != 0 and "client_secret" in refused.output and "nope" not in refused.output
