"""Learners' data rights: export what is held; erase it after revoking every public badge."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text, update

from acquis.cli.main import cli
from acquis.core import adapters, erasure, establishments, learner_export, tags
from acquis.core import runtime as runtime_module
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.ingest import ingest
from acquis.core.models import (
    Award,
    BadgeClass,
    Base,
    Learner,
    LearnerIdentifier,
    LtiLaunchData,
    OutboxMessage,
    utcnow,
)
from acquis.core.plugins import PluginHost
from acquis.core.runtime import Runtime
from acquis.core.xapi import parse_batch
from acquis.plugins.obf.catalogue import sync_badges
from acquis.plugins.obf.plugin import OBFPlugin
from acquis.plugins.openbadges import ob3
from acquis.plugins.openbadges import plugin as native_plugin
from acquis.web.app import create_app
from tests import helpers
from tests.conftest import PUBLIC_URL, TEST_KEY
from tests.fakes.obf import FakeOBF, running

SECRET = "obf-secret-5c2d"
EMAIL = "camille.martin@univ-a.fr"
NAME = "Camille Martin"
MOODLE_ID = "camille-4242"
OTHER = "dominique.durand@univ-a.fr"


@pytest.fixture
def fake() -> FakeOBF:
    f = FakeOBF(token_interval=0, seed=3)
    f.add_client("CID", SECRET, (("OBF-C1-1", "OBF-C1-1"),))
    return f


@pytest.fixture
def obf_url(fake: FakeOBF) -> Iterator[str]:
    with running(fake) as url:
        yield url


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(
        load_entry_points=False, plugins=[("obf", OBFPlugin(timeout=2)), ("openbadges", native_plugin)]
    )


def _statement(email: str, name: str, cmid: int) -> dict[str, Any]:
    st = helpers.statement(cmid=cmid)
    st["actor"] = {"objectType": "Agent", "name": name, "mbox": f"mailto:{email}"}
    return st


@pytest.fixture
def world(db: Database, host: PluginHost, obf_url: str) -> helpers.Tenant:
    """Camille holds an OBF badge (C1) and a native one (C2); Dominique, a native one (C2)."""
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a", adapters=("openbadges",))
        helpers.tag(s, t, [1], "C1", "Novice")
        helpers.tag(s, t, [2], "C2", "Novice")
        adapters.update_settings(
            s,
            host,
            t.est,
            "obf",
            {"api_url": obf_url, "api_version": "v2", "client_id": "CID", "client_secret": SECRET},
        )
        adapters.set_enabled(s, host, t.est, "obf", True)
        lv = tags.find_level(s, t.est, "C1", "Novice")
        bc = s.scalars(select(BadgeClass).where(BadgeClass.level_id == lv.id)).one()
        plugin = host.pm.get_plugin("obf")
        sync_badges(
            s, t.est, plugin.client(adapters.context(s, t.est, "obf", PUBLIC_URL)), {bc.public_id: "OBF-C1-1"}
        )
    deliverer = Deliverer(db, host, "w1", PUBLIC_URL)

    def send(*statements: dict[str, Any]) -> None:
        with db.session() as s:
            ingest(s, host, t.est.id, [f for f in parse_batch(list(statements), utcnow()) if f])
        while deliverer.run_once():
            pass

    send(_statement(EMAIL, NAME, 1))  # issued by OBF
    with db.session() as s:  # OBF takes every badge while enabled: C2 goes out natively meanwhile
        adapters.set_enabled(s, host, establishments.get(s, "univ-a"), "obf", False)
    send(_statement(EMAIL, NAME, 2), _statement(OTHER, "Dominique Durand", 2))
    with db.session() as s:
        adapters.set_enabled(s, host, establishments.get(s, "univ-a"), "obf", True)
        camille = s.scalars(select(Learner).where(Learner.email == EMAIL)).one()
        s.add(
            LearnerIdentifier(
                establishment_id=t.est.id,
                learner_id=camille.id,
                system="xapi:http://www.example.org",
                value=MOODLE_ID,
            )
        )
        # A launch body PyLTI1p3 keeps for a while, naming her.
        s.add(
            LtiLaunchData(
                key="launch-1", value={"sub": MOODLE_ID, "email": EMAIL, "name": NAME}, expires_at=utcnow()
            )
        )
    with db.session() as s:
        emitters = sorted(
            (a.emitter, a.status) for a in s.scalars(select(Award).where(Award.learner_id == camille.id))
        )
    assert emitters == [("obf", "issued"), ("openbadges", "issued")]
    return t


@pytest.fixture
def run(db: Database, host: PluginHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(runtime_module, "PluginHost", lambda: host)
    env = {
        "ACQUIS_DATABASE_URL": db.settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_PUBLIC_URL": PUBLIC_URL,
    }

    def _run(*args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=env)

    return _run


def _dump(db: Database) -> dict[str, list[str]]:
    """Every row of every table, as text: what a search for personal data would read."""
    out: dict[str, list[str]] = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            out[table.name] = sorted(repr(tuple(r)) for r in conn.execute(select(table)))
    return out


def _holding(dump: dict[str, list[str]], needle: str) -> list[str]:
    needle = needle.lower()
    return [name for name, rows in dump.items() if any(needle in r.lower() for r in rows)]


def test_export_holds_what_was_ingested(run: Any, world: helpers.Tenant, tmp_path: Path) -> None:
    out = tmp_path / "camille.json"
    result = run("learner", "export", "univ-a", "--learner", EMAIL, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["learner"]["email"] == EMAIL and doc["learner"]["display_name"] == NAME
    assert {(i["system"], i["value"]) for i in doc["learner"]["identifiers"]} >= {
        ("mbox", EMAIL),
        ("xapi:http://www.example.org", MOODLE_ID),
    } or {i["value"] for i in doc["learner"]["identifiers"]} >= {EMAIL, MOODLE_ID}
    assert sorted(c["activity"] for c in doc["completions"]) == [
        "http://www.example.org/mod/book/view.php?id=1",
        "http://www.example.org/mod/book/view.php?id=2",
    ]
    assert {(v["competency"], v["level"], v["status"]) for v in doc["validations"]} == {
        ("C1", "Novice", "validated"),
        ("C2", "Novice", "validated"),
    }
    assert all(v["events"] and v["events"][0]["status"] == "validated" for v in doc["validations"])
    awards = {a["emitter"]: a for a in doc["awards"]}
    assert awards["obf"]["status"] == "issued" and awards["openbadges"]["url"].startswith(PUBLIC_URL)
    assert OTHER not in out.read_text(encoding="utf-8")  # nobody else's data
    by_id = run("learner", "export", "univ-a", "--learner", MOODLE_ID)  # any identifier finds her
    assert by_id.exit_code == 0 and json.loads(by_id.output)["learner"]["email"] == EMAIL
    missing = run("learner", "export", "univ-a", "--learner", "nobody@univ-a.fr")
    assert missing.exit_code == 1 and "no learner known as 'nobody@univ-a.fr'" in missing.output


def test_erase_revokes_public_badges_then_leaves_no_personal_data(
    run: Any, world: helpers.Tenant, db: Database, host: PluginHost, fake: FakeOBF
) -> None:
    camille_id = _camille_id(db)
    with db.session() as s:
        native = s.scalars(
            select(Award).where(Award.emitter == "openbadges", Award.learner_id == camille_id)
        ).one()
        native_path = native.receipt["url"].removeprefix(PUBLIC_URL)
    web = create_app(Runtime(settings=db.settings, db=db, host=host)).test_client()
    assert web.get(native_path).status_code == 200
    status_path = ob3.status_list_url(PUBLIC_URL, "univ-a").removeprefix(PUBLIC_URL)

    def listed_as_revoked() -> bool:
        """Bit ``award id`` of the OB 3.0 status list (a VC-JWT, read without verifying here)."""
        token = web.get(status_path).get_data(as_text=True)
        claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
        bits = ob3.decode_bits(claims["credentialSubject"]["encodedList"])
        return bool(bits[native.id // 8] & (0x80 >> (native.id % 8)))

    assert not listed_as_revoked()

    assert run("learner", "erase", "univ-a", "--learner", EMAIL).exit_code == 2  # --yes is required
    result = run("learner", "erase", "univ-a", "--learner", EMAIL, "--yes", "--wait", "20")
    assert result.exit_code == 0, result.output
    assert "erased" in result.output

    gone = web.get(native_path)  # the native OB 2.0 assertion: 410 with the reason
    assert gone.status_code == 410 and gone.json["revocationReason"] == erasure.ERASURE_REASON
    assert listed_as_revoked()  # and in the OB 3.0 status list
    recipients = {r["email"]: r["revoked"] for e in fake.events.values() for r in e.recipients}
    assert recipients == {EMAIL: True}  # revoked at OBF, through the outbox

    dump = _dump(db)
    for needle in (EMAIL, NAME, MOODLE_ID, "camille"):
        assert _holding(dump, needle) == [], needle
    assert _holding(dump, OTHER) == ["learner", "learner_identifier"]  # Dominique untouched
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        with pytest.raises(NotFound):
            learner_export.find(s, est, EMAIL)
        erased = s.get(Learner, camille_id)
        assert erased is not None and erased.erased_at is not None and erased.display_name == ""
    assert run("learner", "export", "univ-a", "--learner", MOODLE_ID).exit_code == 1

    # Moodle re-sends her old statements: dropped, nothing stored, no learner re-created.
    with db.session() as s:
        cred = establishments.add_credential(s, establishments.get(s, "univ-a"))
    before = _dump(db)
    again = web.post(
        "/e/univ-a/xapi/statements", json=[_statement(EMAIL, NAME, 1)], auth=(cred.key, cred.secret)
    )
    assert again.status_code == 200 and again.headers["X-Acquis-Stored"] == "0"
    after = _dump(db)
    assert after["learner"] == before["learner"] and after["completion"] == before["completion"]
    assert _holding(after, EMAIL) == []


def _camille_id(db: Database) -> int:
    with db.session() as s:
        return int(s.scalar(text("SELECT id FROM learner ORDER BY id LIMIT 1")))


def test_a_failure_half_way_leaves_nothing_half_erased(
    world: helpers.Tenant, db: Database, host: PluginHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        learner_id = learner_export.find(s, est, EMAIL).id
        owed = erasure.request_erasure(s, host, est, s.get(Learner, learner_id))  # type: ignore[arg-type]
    assert {o.topic for o in owed} >= {"badge_revoked"}
    deliverer = Deliverer(db, host, "w1", PUBLIC_URL)
    for message_id in deliverer.claim(ids=[o.message_id for o in owed]):
        deliverer.deliver(message_id)
    with db.session() as s:  # a worker holding a delivery about her: wait for its outcome
        award_id = s.scalars(select(Award.id).where(Award.learner_id == learner_id)).first()
        s.add(
            OutboxMessage(
                establishment_id=world.est.id,
                topic="badge_emitted",
                plugin="obf",
                payload={"award_id": award_id},
                dedupe_key="leased",
                status="pending",
                locked_by="w9",
                locked_until=utcnow() + timedelta(minutes=1),
            )
        )
    with pytest.raises(InvalidInput, match="in progress"), db.session() as s:
        erasure.complete_erasure(s, establishments.get(s, "univ-a"), s.get(Learner, learner_id))  # type: ignore[arg-type]
    with db.session() as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.dedupe_key == "leased").values(locked_until=None))
    before = _dump(db)
    assert _holding(before, EMAIL)

    def boom(*_: Any) -> int:
        raise RuntimeError("disk full")

    monkeypatch.setattr(erasure, "_forget_launches", boom)  # after completions and identifiers went
    with pytest.raises(RuntimeError), db.session() as s:
        erasure.complete_erasure(s, establishments.get(s, "univ-a"), s.get(Learner, learner_id))  # type: ignore[arg-type]
    assert _dump(db) == before  # all or nothing
    monkeypatch.undo()
    with db.session() as s:
        counts = erasure.complete_erasure(s, establishments.get(s, "univ-a"), s.get(Learner, learner_id))  # type: ignore[arg-type]
    assert counts["completion"] == 2 and counts["lti_launch_data"] == 1
    assert _holding(_dump(db), EMAIL) == []


def test_personal_data_stays_until_the_remote_revocation_is_delivered(
    run: Any, world: helpers.Tenant, db: Database, fake: FakeOBF
) -> None:
    fake.forbidden.add("CID")  # OBF refuses every call: the revocation cannot go out
    refused = run("learner", "erase", "univ-a", "--learner", EMAIL, "--yes", "--wait", "0")
    assert refused.exit_code == 1 and "personal data kept" in refused.output
    assert "badge_revoked → obf" in refused.output
    dump = _dump(db)
    assert "learner" in _holding(dump, EMAIL)  # kept, since OBF still shows her badge
    camille_id = _camille_id(db)
    with db.session() as s:
        camille = s.get(Learner, camille_id)
        assert camille is not None and camille.erased_at is None
        statuses = set(s.scalars(select(Award.status).where(Award.learner_id == camille.id)))
        assert statuses == {"revoked"}  # public copies withdrawn first
        with pytest.raises(InvalidInput, match="not delivered yet"):
            erasure.complete_erasure(s, establishments.get(s, "univ-a"), camille)
    fake.forbidden.clear()  # the admin fixes OBF, runs the same command again
    done = run("learner", "erase", "univ-a", "--learner", EMAIL, "--yes", "--wait", "20")
    assert done.exit_code == 0, done.output
    assert {r["email"]: r["revoked"] for e in fake.events.values() for r in e.recipients} == {EMAIL: True}
    assert _holding(_dump(db), EMAIL) == []
