"""The Karuta adapter against the fake backend: pushes are idempotent, and errors say what to fix."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from acquis.core import adapters, establishments
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.errors import PermanentDeliveryError, TransientDeliveryError
from acquis.core.events import (
    AdapterContext,
    AwardEvent,
    BadgeClassRef,
    EmissionReceipt,
    EstablishmentRef,
    LearnerRef,
    ValidationEvent,
)
from acquis.core.ingest import ingest
from acquis.core.models import Award, OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from acquis.plugins.karuta.plugin import TAG_BADGE, TAG_COMPETENCY, KarutaPlugin
from acquis.plugins.openbadges import plugin as native_plugin
from tests import helpers
from tests.conftest import PUBLIC_URL
from tests.fakes.karuta import FakeKaruta, running

PASSWORD = "karuta-pass-31"
LUCIE = LearnerRef(7, "Lucie Martin", "lucie.martin@etu.example.fr", {"pegase:ine": "0123456789A"})


@pytest.fixture
def fake() -> FakeKaruta:
    f = FakeKaruta()
    f.add_portfolio("lucie.martin-portfolio")
    f.add_portfolio("ine-0123456789A")
    return f


@pytest.fixture
def url(fake: FakeKaruta) -> Iterator[str]:
    with running(fake) as u:
        yield u


def _ctx(url: str, **settings: str) -> AdapterContext:
    values = {"url": url, "login": "acquis", "password": PASSWORD, **settings}
    return AdapterContext(
        EstablishmentRef(1, "univ-a", "Université A", "fr"), values, "https://badges.univ.fr", "d-1"
    )


def _award(name: str = "Chercher l'information — Novice") -> AwardEvent:
    badge = BadgeClassRef(3, "bc-123", name, "Sait chercher.", "Compléter le module 1", "C1", 1, None)
    return AwardEvent(11, "aw-456", LUCIE, badge, 5, datetime(2026, 3, 1, tzinfo=UTC), None)


def _validation(rank: int = 1, label: str = "Novice") -> ValidationEvent:
    return ValidationEvent(
        5, LUCIE, "demo", "C1", "Chercher l'information", rank, label, "validated", "rules", ()
    )


RECEIPT = EmissionReceipt("openbadges", "aw-456", "https://badges.univ.fr/ob/v2/assertions/aw-456")


def test_a_badge_pushed_three_times_is_one_unit_updated(fake: FakeKaruta, url: str) -> None:
    plugin = KarutaPlugin(timeout=5)
    ctx = _ctx(url)
    for name in ("Chercher — Novice", "Chercher — Novice", "Chercher l'information — Novice"):
        plugin.badge_emitted(ctx, _award(name), RECEIPT)
    units = fake.units("lucie.martin-portfolio", TAG_BADGE)
    assert len(units) == 1
    unit = units[0]
    assert fake.text_of(unit, "nodeRes", "code") == "acquis-badge-aw-456"
    assert fake.text_of(unit, "nodeRes", "label") == "Chercher l'information — Novice"  # the last push
    assert fake.text_of(unit, "URL", "url") == RECEIPT.url
    assert "Compléter le module 1" in (fake.text_of(unit, "Field", "text") or "")
    assert len(unit.findall("asmContext")) == 2
    assert fake.calls["post_node"] == 1 and fake.calls["put_noderesource"] == 2
    assert fake.calls["login"] == 1  # the session is kept between pushes


def test_competency_levels_are_one_unit_each_and_idempotent(fake: FakeKaruta, url: str) -> None:
    plugin = KarutaPlugin(timeout=5)
    ctx = _ctx(url, portfolio_code="ine-{pegase_ine}")
    for _ in range(3):
        plugin.competency_validated(ctx, _validation(2, "Intermédiaire"))
        plugin.competency_validated(ctx, _validation(1, "Novice"))
    units = fake.units("ine-0123456789A", TAG_COMPETENCY)
    assert sorted(fake.text_of(u, "nodeRes", "code") or "" for u in units) == [
        "acquis-competency-demo-C1-1",
        "acquis-competency-demo-C1-2",
    ]
    assert all(len(u.findall("asmContext")) == 1 for u in units)  # a Field, no link
    revoked = ValidationEvent(5, LUCIE, "demo", "C1", "Chercher", 3, "Compétent", "revoked", "rules", ())
    plugin.competency_validated(ctx, revoked)
    assert len(fake.units("ine-0123456789A", TAG_COMPETENCY)) == 2


def test_a_context_removed_in_karuta_is_added_back(fake: FakeKaruta, url: str) -> None:
    plugin = KarutaPlugin(timeout=5)
    plugin.badge_emitted(_ctx(url), _award(), RECEIPT)
    unit = fake.units("lucie.martin-portfolio", TAG_BADGE)[0]
    unit.remove(unit.findall("asmContext")[0])
    plugin.badge_emitted(_ctx(url), _award(), RECEIPT)
    unit = fake.units("lucie.martin-portfolio", TAG_BADGE)[0]
    assert len(unit.findall("asmContext")) == 2 and len(fake.units("lucie.martin-portfolio", TAG_BADGE)) == 1


def test_a_missing_portfolio_is_a_permanent_error_for_the_admin(fake: FakeKaruta, url: str) -> None:
    plugin = KarutaPlugin(timeout=5)
    with pytest.raises(
        PermanentDeliveryError, match="no Karuta portfolio has the code 'nobody-portfolio'"
    ) as err:
        plugin.badge_emitted(_ctx(url, portfolio_code="nobody-portfolio"), _award(), RECEIPT)
    assert "create the student's portfolio" in str(err.value)
    no_email = LearnerRef(8, "Sans Mail", None, {})
    with pytest.raises(PermanentDeliveryError, match="has no email_local"):
        plugin.competency_validated(
            _ctx(url), ValidationEvent(6, no_email, "demo", "C1", "C", 1, "Novice", "validated", "rules", ())
        )
    assert fake.calls["post_node"] == 0


def test_bad_credentials_are_a_clear_error_without_the_password(fake: FakeKaruta, url: str) -> None:
    plugin = KarutaPlugin(timeout=5)
    ctx = _ctx(url, password="wrong-pass-9")
    with pytest.raises(PermanentDeliveryError, match="refused the login 'acquis'") as err:
        plugin.badge_emitted(ctx, _award(), RECEIPT)
    assert "wrong-pass-9" not in str(err.value) and "password" in str(err.value)
    bad = plugin.check(ctx)
    assert not bad.ok and "check login and password" in bad.message and "wrong-pass-9" not in bad.message
    good = KarutaPlugin(timeout=5).check(_ctx(url, check_portfolio="lucie.martin-portfolio"))
    assert good.ok, good.message
    missing = KarutaPlugin(timeout=5).check(_ctx(url, check_portfolio="nope"))
    assert not missing.ok and "'nope'" in missing.message
    wrong_url = KarutaPlugin(timeout=5).check(_ctx(url.replace("/rest/api", "/api")))
    assert not wrong_url.ok and "/rest/api" in wrong_url.message


def test_an_ended_session_logs_in_again_and_a_down_server_is_transient(fake: FakeKaruta, url: str) -> None:
    plugin = KarutaPlugin(timeout=5)
    plugin.badge_emitted(_ctx(url), _award(), RECEIPT)
    fake.sessions.clear()  # Karuta restarted
    plugin.badge_emitted(_ctx(url), _award(), RECEIPT)
    assert fake.calls["login"] == 2 and len(fake.units("lucie.martin-portfolio", TAG_BADGE)) == 1
    with pytest.raises(TransientDeliveryError):
        KarutaPlugin(timeout=5).badge_emitted(_ctx("http://127.0.0.1:9/rest/api"), _award(), RECEIPT)


# ---- through the outbox ------------------------------------------------------------------------


def _outbox_host(plugin: KarutaPlugin) -> PluginHost:
    return PluginHost(load_entry_points=False, plugins=[("openbadges", native_plugin), ("karuta", plugin)])


def _deliver(db: Database, host: PluginHost, statements: list[dict[str, Any]]) -> None:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        ingest(s, host, est.id, [f for f in parse_batch(statements, utcnow()) if f])
    for _ in range(3):  # emit_badge, then the broadcasts it causes
        Deliverer(db, host, "w1", PUBLIC_URL).run_once()


def _mail_statement(user: int, cmid: int) -> dict[str, Any]:
    st = helpers.statement(user=str(user), cmid=cmid)
    st["actor"] = {
        "objectType": "Agent",
        "name": f"Learner {user}",
        "mbox": f"mailto:learner{user}@univ-a.fr",
    }
    return st


def _karuta_tenant(db: Database, host: PluginHost, url: str) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a", adapters=("openbadges",))
        helpers.tag(s, t, [1], competency="C1", level="Novice")
        adapters.update_settings(
            s, host, t.est, "karuta", {"url": url, "login": "acquis", "password": PASSWORD}
        )
        adapters.set_enabled(s, host, t.est, "karuta", True)


def test_the_outbox_pushes_the_badge_and_the_competency(db: Database, fake: FakeKaruta, url: str) -> None:
    host = _outbox_host(KarutaPlugin(timeout=5))
    fake.add_portfolio("learner1-portfolio")
    _karuta_tenant(db, host, url)
    _deliver(db, host, [_mail_statement(1, 1)])
    (badge,) = fake.units("learner1-portfolio", TAG_BADGE)
    (competency,) = fake.units("learner1-portfolio", TAG_COMPETENCY)
    with db.session() as s:
        award = s.scalars(select(Award)).one()
        assert fake.text_of(badge, "nodeRes", "code") == f"acquis-badge-{award.public_id}"
        assert fake.text_of(badge, "URL", "url") == f"{PUBLIC_URL}/ob/v2/assertions/{award.public_id}"
        assert fake.text_of(competency, "nodeRes", "code") == "acquis-competency-demo-C1-1"
        assert s.scalar(select(func.count()).where(OutboxMessage.status != "done")) == 0


def test_the_outbox_parks_a_push_to_a_missing_portfolio_with_the_reason(
    db: Database, fake: FakeKaruta, url: str
) -> None:
    host = _outbox_host(KarutaPlugin(timeout=5))
    _karuta_tenant(db, host, url)
    _deliver(db, host, [_mail_statement(2, 1)])
    with db.session() as s:
        parked = list(s.scalars(select(OutboxMessage).where(OutboxMessage.plugin == "karuta")))
        assert parked and all(m.status == "failed" for m in parked)
        assert all(
            "no Karuta portfolio has the code 'learner2-portfolio'" in (m.last_error or "") for m in parked
        )
        assert s.scalars(select(Award)).one().status == "issued"  # the badge itself is not held back


def test_revocations_mark_the_unit_and_never_create_one(fake: FakeKaruta, url: str) -> None:
    plugin = KarutaPlugin(timeout=5)
    ctx = _ctx(url)
    plugin.badge_revoked(ctx, _award(), RECEIPT)  # never pushed: nothing to mark
    assert fake.units("lucie.martin-portfolio") == [] and fake.calls["post_node"] == 0
    plugin.badge_emitted(ctx, _award(), RECEIPT)
    award = AwardEvent(**{**_award().__dict__, "revocation_reason": "fraude"})
    plugin.badge_revoked(ctx, award, RECEIPT)
    (unit,) = fake.units("lucie.martin-portfolio", TAG_BADGE)
    assert (fake.text_of(unit, "nodeRes", "label") or "").startswith("[Révoqué]")
    assert "Motif : fraude" in (fake.text_of(unit, "Field", "text") or "")

    plugin.competency_validated(ctx, _validation())
    gone = ValidationEvent(
        5, LUCIE, "demo", "C1", "Chercher l'information", 1, "Novice", "revoked", "rules", ()
    )
    plugin.validation_revoked(ctx, gone)
    (unit,) = fake.units("lucie.martin-portfolio", TAG_COMPETENCY)
    assert (fake.text_of(unit, "nodeRes", "label") or "").startswith("[Révoqué]")
    plugin.competency_validated(ctx, _validation())  # validated again: restored, still one unit
    (unit,) = fake.units("lucie.martin-portfolio", TAG_COMPETENCY)
    assert fake.text_of(unit, "nodeRes", "label") == "Chercher l'information — Novice"


def test_a_hostile_karuta_answer_is_refused_unread(fake: FakeKaruta, url: str, tmp_path: Any) -> None:
    """XXE and entity bombs in Karuta's answers reach the hardened parser and go no further."""
    from tests.unit.test_safe_xml import BILLION_LAUGHS, SECRET, _xxe

    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    fake.raw_answers["xxe-portfolio"] = _xxe(secret)
    fake.raw_answers["bomb-portfolio"] = BILLION_LAUGHS
    plugin = KarutaPlugin(timeout=5)
    for code in ("xxe-portfolio", "bomb-portfolio"):
        with pytest.raises(PermanentDeliveryError, match="DOCTYPE") as err:
            plugin.badge_emitted(_ctx(url, portfolio_code=code), _award(), RECEIPT)
        assert SECRET not in str(err.value)
    assert fake.calls["post_node"] == 0
