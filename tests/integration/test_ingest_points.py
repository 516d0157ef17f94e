"""Statements reach points programmes through the ingest pipeline, as they reach competencies."""

from __future__ import annotations

from sqlalchemy import select

from acquis.core import establishments, points
from acquis.core.db import Database
from acquis.core.ingest import ingest
from acquis.core.models import Learner, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from tests import helpers


def _send(db: Database, host: PluginHost, *statements: dict) -> None:  # type: ignore[type-arg]
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        ingest(s, host, est.id, [f for f in parse_batch(list(statements), utcnow()) if f])


def test_a_completed_conference_earns_its_point_and_an_uncompleted_one_takes_it_back(
    db: Database, host: PluginHost
) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        points.import_programme(s, t.est, points.sample_definition())
        points.tag_activity(s, t.est, "engagement", "conference", f"{helpers.MOODLE}/mod/book/view.php?id=31")
    _send(db, host, helpers.statement(cmid=31, timestamp="2025-10-02T10:00:00Z"))

    def result() -> points.SemesterResult:
        with db.session() as s:
            est = establishments.get(s, "univ-a")
            learner = s.scalars(select(Learner.id)).one()
            return points.semester_result(s, est, "engagement", learner, "2025-2026-S1")

    assert result().points == 1
    _send(db, host, helpers.statement(cmid=31, verb="uncompleted", timestamp="2025-10-03T10:00:00Z"))
    assert result().points == 0
