"""Adapters are enabled per establishment: each establishment's events reach only its own."""

from __future__ import annotations

from sqlalchemy import select

from acquis.core import adapters, establishments
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.ingest import ingest
from acquis.core.models import Award, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from tests import helpers
from tests.conftest import PUBLIC_URL
from tests.plugins import RecordingEmitter


def _drain(db: Database, host: PluginHost) -> None:
    deliverer = Deliverer(db, host, "test-worker", PUBLIC_URL)
    while deliverer.run_once():
        pass


def _send(db: Database, host: PluginHost, slug: str, user: str) -> None:
    with db.session() as s:
        est = establishments.get(s, slug)
        facts = [f for f in parse_batch([helpers.statement(user=user, cmid=1)], utcnow()) if f]
        ingest(s, host, est.id, facts)


def test_two_establishments_two_emitters_each_event_reaches_only_its_own(db: Database) -> None:
    recorder = RecordingEmitter("recorder")
    other_recorder = RecordingEmitter("other")
    host = PluginHost(plugins=[("recorder", recorder), ("other", other_recorder)])
    with db.session() as s:
        a = helpers.make_tenant(s, host, "univ-a", adapters=("openbadges",))
        b = helpers.make_tenant(s, host, "univ-b", adapters=())
        helpers.tag(s, a, [1])
        helpers.tag(s, b, [1])
        adapters.update_settings(s, host, b.est, "recorder", {"url": "https://obf.test", "token": "t"})
        adapters.set_enabled(s, host, b.est, "recorder", True)

    _send(db, host, "univ-a", "1")
    _send(db, host, "univ-b", "1")
    _drain(db, host)

    with db.session() as s:
        by_est = {award.establishment_id: award for award in s.scalars(select(Award))}
    assert len(by_est) == 2
    assert by_est[a.est.id].emitter == "openbadges" and by_est[a.est.id].status == "issued"
    assert by_est[b.est.id].emitter == "recorder" and by_est[b.est.id].status == "issued"
    # univ-b's recorder saw univ-b's award only, and its competency_validated broadcast only.
    assert recorder.calls == [("univ-b", by_est[b.est.id].public_id)]
    assert [slug for slug, _ in recorder.validated] == ["univ-b"]
    # "other" is installed but enabled nowhere: it heard nothing at all.
    assert other_recorder.calls == [] and other_recorder.validated == []


def test_enable_requires_settings_and_secrets_stay_encrypted(db: Database) -> None:
    recorder = RecordingEmitter("recorder")
    host = PluginHost(plugins=[("recorder", recorder)])
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        try:
            adapters.set_enabled(s, host, t.est, "recorder", True)
        except Exception as exc:
            assert "url" in str(exc) and "token" in str(exc)
        else:
            raise AssertionError("enabling without the required settings must fail")
        adapters.update_settings(
            s, host, t.est, "recorder", {"url": "https://x.test/", "token": "tok-123456"}
        )
        adapters.set_enabled(s, host, t.est, "recorder", True)
    with db.session() as s:
        from sqlalchemy import text

        raw = s.execute(text("SELECT settings, secrets FROM adapter_config WHERE adapter = 'recorder'")).one()
        assert "tok-123456" not in str(raw[0]) and "tok-123456" not in str(raw[1])
        assert "https://x.test" in str(raw[0])  # non-secret settings stay readable
        cfg_ctx = adapters.context(s, establishments.get(s, "univ-a"), "recorder", PUBLIC_URL)
        assert cfg_ctx.settings["token"] == "tok-123456"  # the adapter itself gets it in clear
        assert cfg_ctx.settings["url"] == "https://x.test"  # URLs are normalised
