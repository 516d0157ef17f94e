"""Concurrent senders: the same statements from several threads give one and the same outcome."""

from __future__ import annotations

import random
import threading
from typing import Any

from sqlalchemy import func, select

from acquis.core import establishments
from acquis.core.db import Database
from acquis.core.ingest import ingest
from acquis.core.models import (
    Activity,
    Award,
    Completion,
    Learner,
    LearnerIdentifier,
    Level,
    Validation,
    utcnow,
)
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from tests import helpers


def _statements() -> list[dict[str, Any]]:
    out = []
    for user in range(12):
        for cmid, level in ((1, 0), (2, 1), (3, 2)):
            out.append(helpers.statement(user=str(user), cmid=cmid, timestamp=f"2030-01-01T1{level}:00:00Z"))
        if user % 4 == 0:  # some learners withdraw Novice afterwards
            out.append(
                helpers.statement(
                    user=str(user), cmid=1, verb="uncompleted", timestamp="2030-01-02T00:00:00Z"
                )
            )
    return out


def _state(db: Database) -> tuple[int, int, list[tuple[str, int, str]], int]:
    """Completions, learners, effective validations and live awards, free of database ids.

    A ``revoked`` row is history (something was validated, then withdrawn), which depends on
    what was seen in between; the effective outcome is what must not depend on arrival order.
    """
    with db.session() as s:
        completions = int(s.scalar(select(func.count()).select_from(Completion)) or 0)
        learners = int(s.scalar(select(func.count()).select_from(Learner)) or 0)
        validations = sorted(
            (who, rank, status)
            for who, rank, status in s.execute(
                select(LearnerIdentifier.value, Level.rank, Validation.status)
                .join(LearnerIdentifier, LearnerIdentifier.learner_id == Validation.learner_id)
                .join(Level, Level.id == Validation.level_id)
                .where(Validation.status != "revoked")
            )
        )
        live_awards = int(
            s.scalar(select(func.count()).select_from(Award).where(Award.status != "revoked")) or 0
        )
    return completions, learners, validations, live_awards


def _tenant(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, [1], "C1", "Novice")
        helpers.tag(s, t, [2], "C1", "Intermédiaire")
        helpers.tag(s, t, [3], "C1", "Compétent")


def _send(db: Database, host: PluginHost, batch: list[dict[str, Any]]) -> None:
    for attempt in range(5):
        try:
            with db.session() as s:
                est = establishments.get(s, "univ-a")
                ingest(s, host, est.id, [f for f in parse_batch(batch, utcnow()) if f])
            return
        except Exception:
            # A deadlock or serialisation failure rolls the whole batch back; the sender
            # retries, exactly as Moodle's logstore does after a 5xx.
            if attempt == 4:
                raise


def test_concurrent_senders_reach_the_sequential_outcome(db: Database, host: PluginHost) -> None:
    statements = _statements()
    _tenant(db, host)
    _send(db, host, statements)
    expected = _state(db)
    assert expected[0] == len(statements)

    from tests.conftest import _wipe

    _wipe(db.engine)
    _tenant(db, host)
    errors: list[BaseException] = []

    def sender(seed: int) -> None:
        rng = random.Random(seed)
        mine = statements[:]
        rng.shuffle(mine)
        try:
            for i in range(0, len(mine), 7):
                _send(db, host, mine[i : i + 7])
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    got = _state(db)
    assert got[0] == expected[0]  # every statement stored once, none twice
    assert got[1] == expected[1]  # no duplicate learner from the creation race
    assert got[2] == expected[2]  # the same levels reached, by the same learners
    assert got[3] == expected[3]  # never two live awards for one validation


def test_two_senders_naming_the_same_new_activities_do_not_deadlock(db: Database, host: PluginHost) -> None:
    """Tagged activities get their names from the first statements about them; two batches
    bringing those in opposite orders, at once, both go through (no retry here)."""
    cmids = list(range(100, 160))
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, cmids, "C1", "Novice")  # the tag creates the activities, unnamed
        est_id = t.est.id
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def sender(user: str, order: list[int]) -> None:
        facts = [f for f in parse_batch([helpers.statement(user=user, cmid=c) for c in order], utcnow()) if f]
        try:
            barrier.wait()  # before either transaction begins (SQLite's is taken at BEGIN)
            with db.session() as s:
                ingest(s, host, est_id, facts)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=sender, args=("a", cmids)),
        threading.Thread(target=sender, args=("b", cmids[::-1])),
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    with db.session() as s:
        names = set(s.scalars(select(Activity.name).where(Activity.source_id.like("%id=1__"))))
    assert names == {f"Module {c}" for c in cmids}
