"""An admin's hands on one award: retry a parked delivery, re-issue where the policy allows."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from acquis.core import adapters, awards, establishments
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.errors import InvalidInput
from acquis.core.ingest import ingest
from acquis.core.models import Award, BadgeClass, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from tests import helpers
from tests.conftest import PUBLIC_URL


@pytest.fixture
def est_id(db: Database, host: PluginHost) -> int:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, [1])
        return t.est.id


def _earn(db: Database, host: PluginHost, est_id: int, **kw: str) -> None:
    with db.session() as s:
        ingest(s, host, est_id, [f for f in parse_batch([helpers.statement(**kw)], utcnow()) if f])
    Deliverer(db, host, "w", PUBLIC_URL).run_once()


def _awards(db: Database) -> list[Award]:
    with db.session() as s:
        return list(s.scalars(select(Award).order_by(Award.id)))


def test_a_parked_award_is_delivered_once_the_admin_fixed_it_and_retried(
    db: Database, host: PluginHost, est_id: int
) -> None:
    with db.session() as s:
        adapters.set_enabled(s, host, establishments.get(s, "univ-a"), "openbadges", False)
    _earn(db, host, est_id)
    (parked,) = _awards(db)
    assert parked.status == "failed" and "acquis adapter enable" in (parked.last_error or "")
    with db.session() as s:
        adapters.set_enabled(s, host, establishments.get(s, "univ-a"), "openbadges", True)
        awards.retry(s, est_id, parked.public_id)
    Deliverer(db, host, "w", PUBLIC_URL).run_once()
    assert [a.status for a in _awards(db)] == ["issued"]
    with db.session() as s, pytest.raises(InvalidInput, match="only a failed award can be retried"):
        awards.retry(s, est_id, parked.public_id)


def test_reissue_is_refused_while_a_live_copy_exists_unless_the_badge_allows_duplicates(
    db: Database, host: PluginHost, est_id: int
) -> None:
    _earn(db, host, est_id)
    (first,) = _awards(db)
    with db.session() as s, pytest.raises(InvalidInput, match="denies duplicates"):
        awards.reissue(s, est_id, first.public_id, by="admin")
    with db.session() as s:
        s.execute(update(BadgeClass).values(allow_reissue=True))
    with db.session() as s:
        fresh = awards.reissue(s, est_id, first.public_id, by="admin")
        assert fresh.issue_no == 2
    Deliverer(db, host, "w", PUBLIC_URL).run_once()
    assert [(a.status, a.issue_no) for a in _awards(db)] == [("issued", 1), ("issued", 2)]


def test_no_reissue_once_the_level_is_withdrawn_but_earning_it_again_re_awards(
    db: Database, host: PluginHost, est_id: int
) -> None:
    _earn(db, host, est_id, timestamp="2030-01-01T00:00:00Z")
    (first,) = _awards(db)
    _earn(db, host, est_id, verb="uncompleted", timestamp="2030-01-02T00:00:00Z")
    with db.session() as s:
        s.execute(update(BadgeClass).values(allow_reissue=True))
    with db.session() as s, pytest.raises(InvalidInput, match="no longer validated"):
        awards.reissue(s, est_id, first.public_id, by="admin")
    _earn(
        db, host, est_id, timestamp="2030-01-03T00:00:00Z"
    )  # earned again: the revoked copy is no duplicate
    assert [a.status for a in _awards(db)] == ["revoked", "issued"]
