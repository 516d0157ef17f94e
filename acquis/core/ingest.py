"""The pipeline from completion facts to validations and awards, in one transaction per batch.

Stored once: completions are inserted with ON CONFLICT DO NOTHING on their two unique keys
(sender's statement id; learner, activity and content hash), and only the rows actually inserted
go on to the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from acquis.core import outbox, points
from acquis.core.adapters import enabled_names
from acquis.core.catalogue import current as current_catalogue
from acquis.core.models import Activity, Completion, Learner, LearnerIdentifier, dedupe_key, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.rules import Catalogue, Engine
from acquis.core.sql import (
    array_param,
    bulk_insert,
    bulk_insert_columns,
    driver_rows,
    insert_ignore,
    lock_learners,
    table,
)
from acquis.core.xapi import CompletionFact

# Identifiers and activities of a batch, each looked up by its unique index (see acquis.core.sql),
# by dialect name.
_IDENTIFIERS_SQL = {
    "postgresql": "SELECT u.v, li.learner_id FROM unnest(CAST(%(v)s AS varchar[])) AS u(v) "
    "CROSS JOIN LATERAL (SELECT learner_id FROM learner_identifier "
    "WHERE establishment_id = %(e)s AND system = %(s)s AND value = u.v OFFSET 0) AS li",
    "sqlite": "SELECT value, learner_id FROM learner_identifier "
    "WHERE establishment_id = :e AND system = :s AND value IN (SELECT value FROM json_each(:v))",
}
_ACTIVITIES_SQL = {
    "postgresql": "SELECT u.v, a.id, a.name FROM unnest(CAST(%(v)s AS varchar[])) AS u(v) "
    "CROSS JOIN LATERAL (SELECT id, name FROM activity "
    "WHERE establishment_id = %(e)s AND source_id = u.v OFFSET 0) AS a",
    "sqlite": "SELECT source_id, id, name FROM activity "
    "WHERE establishment_id = :e AND source_id IN (SELECT value FROM json_each(:v))",
}


@dataclass(frozen=True)
class IngestResult:
    stored: int
    duplicates: int


def resolve_learners(
    session: Session, establishment_id: int, facts: Sequence[CompletionFact]
) -> dict[str, dict[str, int]]:
    """Learner ids by identifier system, then value, creating the learners seen for the first time.

    Nested rather than keyed by (system, value) pairs: a batch has one system (that of its
    Moodle), and a pair per statement was two thousand objects per batch for the garbage
    collector to count (docs/architecture.md).
    """
    wanted: dict[str, dict[str, CompletionFact]] = {}
    for f in facts:
        wanted.setdefault(f.identifier_system, {})[f.identifier_value] = f
    found: dict[str, dict[str, int]] = {}
    sql = _IDENTIFIERS_SQL[session.get_bind().dialect.name]
    missing: list[CompletionFact] = []
    for system, by_value in wanted.items():  # one query per system
        params = {"e": establishment_id, "s": system, "v": array_param(session, by_value)}
        known = found[system] = dict(driver_rows(session, sql, params))
        missing.extend(f for value, f in by_value.items() if value not in known)
    if missing:
        _create_learners(session, establishment_id, missing, found)
    return found


def _create_learners(
    session: Session, establishment_id: int, facts: list[CompletionFact], found: dict[str, dict[str, int]]
) -> None:
    """Create learners in bulk; a concurrent batch may create some of them first.

    The identifier's unique key decides who wins: learner rows whose identifier lost the race
    are deleted again (in this transaction), and the winner's learner id is used instead.
    """
    now = utcnow()
    rows = [
        {
            "establishment_id": establishment_id,
            "display_name": f.learner_name,
            "email": f.learner_email,
            "created_at": now,
        }
        for f in facts
    ]
    # Ids chosen first: the learners then go in as one plain bulk insert, and each id is known
    # to belong to its fact without relying on RETURNING order. On PostgreSQL they are drawn
    # from the sequence; on SQLite they follow the largest id, which this transaction (holding
    # the only write lock) is alone to extend.
    if session.get_bind().dialect.name == "postgresql":
        learner_ids = list(
            session.execute(
                text("SELECT nextval(pg_get_serial_sequence('learner', 'id')) FROM generate_series(1, :n)"),
                {"n": len(rows)},
            ).scalars()
        )
    else:
        last = session.execute(select(func.max(Learner.id))).scalar() or 0
        learner_ids = list(range(last + 1, last + 1 + len(rows)))
    bulk_insert(session, table(Learner), [{"id": i, **r} for i, r in zip(learner_ids, rows, strict=True)])
    keys = [(f.identifier_system, f.identifier_value) for f in facts]
    inserted = bulk_insert(
        session,
        table(LearnerIdentifier),
        [
            {"establishment_id": establishment_id, "learner_id": lid, "system": k[0], "value": k[1]}
            for lid, k in zip(learner_ids, keys, strict=True)
        ],
        "learner_id",
        ignore_conflicts=True,
    )
    won = {r.learner_id for r in inserted}
    lost = [(lid, k) for lid, k in zip(learner_ids, keys, strict=True) if lid not in won]
    for lid, k in zip(learner_ids, keys, strict=True):
        if lid in won:
            found[k[0]][k[1]] = lid
    if lost:
        session.execute(delete(Learner).where(Learner.id.in_([lid for lid, _ in lost])))
        for _, k in lost:
            found[k[0]][k[1]] = session.execute(
                select(LearnerIdentifier.learner_id).where(
                    LearnerIdentifier.establishment_id == establishment_id,
                    LearnerIdentifier.system == k[0],
                    LearnerIdentifier.value == k[1],
                )
            ).scalar_one()


def resolve_activities(
    session: Session, establishment_id: int, facts: Sequence[CompletionFact]
) -> dict[str, int]:
    wanted = {f.activity_id: f for f in facts}
    found: dict[str, int] = {}
    unnamed: list[int] = []
    sql = _ACTIVITIES_SQL[session.get_bind().dialect.name]

    def _load(source_ids: list[str]) -> None:
        params = {"e": establishment_id, "v": array_param(session, source_ids)}
        for source_id, activity_id, name in driver_rows(session, sql, params):
            found[source_id] = activity_id
            if not name and wanted[source_id].activity_name:
                unnamed.append(activity_id)  # tagged before any statement named it

    _load(list(wanted))
    missing = [s for s in wanted if s not in found]
    if missing:
        now = utcnow()
        session.execute(
            insert_ignore(session, table(Activity)),
            [
                {
                    "establishment_id": establishment_id,
                    "source_id": s,
                    "name": wanted[s].activity_name,
                    "kind": wanted[s].activity_type,
                    "course_ref": wanted[s].course_ref,
                    "created_at": now,
                }
                for s in missing
            ],
        )
        _load(missing)
    by_id = {v: k for k, v in found.items()}
    # In id order: two batches naming the same activities then lock them in the same order,
    # where in their statements' order they could deadlock; a name another batch gave first stays.
    for activity_id in sorted(unnamed):
        fact = wanted[by_id[activity_id]]
        session.execute(
            update(Activity)
            .where(Activity.id == activity_id, Activity.name == "")
            .values(name=fact.activity_name, kind=fact.activity_type, course_ref=fact.course_ref)
        )
    return found


def ingest(
    session: Session,
    host: PluginHost,
    establishment_id: int,
    facts: Sequence[CompletionFact],
    catalogue: Catalogue | None = None,
) -> IngestResult:
    """Store ``facts`` once and apply the rules to what is new, in the caller's transaction."""
    if not facts:
        return IngestResult(0, 0)
    learners = resolve_learners(session, establishment_id, facts)
    activities = resolve_activities(session, establishment_id, facts)
    # Column by column: the facts transposed in one step (they are tuples), no dict per row.
    field = dict(zip(CompletionFact._fields, zip(*facts, strict=True), strict=True))
    systems, values = field["identifier_system"], field["identifier_value"]
    columns = {
        "establishment_id": [establishment_id] * len(facts),
        "learner_id": [learners[system][value] for system, value in zip(systems, values, strict=True)],
        "activity_id": [activities[a] for a in field["activity_id"]],
        "state": field["state"],
        "grade": field["grade"],
        "occurred_at": field["occurred_at"],
        "received_at": [utcnow()] * len(facts),
        "source_id": field["source_id"],
        "content_hash": field["content_hash"],
        "dedupe_key": [dedupe_key(h) for h in field["content_hash"]],
    }
    inserted = bulk_insert_columns(
        session, table(Completion), columns, "id", "learner_id", "activity_id", ignore_conflicts=True
    )
    # Columns, not rows: the ids and pairs of what went in are read column by column, and the
    # pairs handed on as zip's, each used once and freed (what the garbage collector counts is
    # objects kept alive, docs/architecture.md).
    ids, learner_ids, activity_ids = inserted["id"], inserted["learner_id"], inserted["activity_id"]
    if ids:
        lock_learners(session, learner_ids)
        enabled = enabled_names(session, establishment_id)
        if host.implementers("activity_completed") & enabled:
            for completion_id in ids:
                outbox.broadcast(
                    session,
                    host,
                    establishment_id,
                    enabled,
                    "activity_completed",
                    {"completion_id": completion_id},
                    str(completion_id),
                )
        rules = catalogue or current_catalogue(session, establishment_id)
        Engine(session, host, establishment_id, rules, enabled).on_completions(
            zip(learner_ids, activity_ids, strict=True)
        )
        points.on_completions(session, establishment_id, zip(learner_ids, activity_ids, strict=True))
    return IngestResult(stored=len(ids), duplicates=len(facts) - len(ids))
