"""Ingest's lookup of its senders' identifiers is answered from an index, without the table.

Every batch resolves each of its learners by (establishment, system, value); with the learner id
in the index too, the database reads no table row per identifier. The plans are asked of each
database for the statement ingest runs, so a change to either the statement or the index that
brings the table back fails here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from acquis.core import establishments
from acquis.core.db import Database
from acquis.core.ingest import _IDENTIFIERS_SQL, resolve_learners
from acquis.core.models import utcnow
from acquis.core.sql import array_param, driver_rows
from acquis.core.xapi import parse_batch
from tests.helpers import statement


def _plan(session: Session, sql: str, params: dict[str, Any]) -> str:
    if session.get_bind().dialect.name == "postgresql":
        # The tables are a few rows long here, where PostgreSQL would read them whole.
        session.connection().exec_driver_sql("SET LOCAL enable_seqscan = off")
        session.connection().exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        return "\n".join(row[0] for row in driver_rows(session, f"EXPLAIN {sql}", params))
    # SQLite's plan rows end with their text (id, parent, unused, detail).
    return "\n".join(row[-1] for row in driver_rows(session, f"EXPLAIN QUERY PLAN {sql}", params))


def test_identifiers_are_resolved_from_the_lookup_index_alone(db: Database) -> None:
    facts = [f for f in parse_batch([statement(user=u) for u in ("11", "12", "13")], utcnow()) if f]
    assert len(facts) == 3
    with db.session() as s:
        est, _ = establishments.create(s, "lookup", "Lookup")
        s.flush()
        known = resolve_learners(s, est.id, facts)  # creates them
    postgresql = db.engine.dialect.name == "postgresql"
    if postgresql:
        # PostgreSQL reads from an index alone only the pages its visibility map marks all-visible,
        # which VACUUM sets (autovacuum does so for a table written as rarely as this one); on
        # pages just written, its planner costs both indexes alike and may take either.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) learner_identifier")
    with db.session() as s:
        assert resolve_learners(s, est.id, facts) == known  # and finds them again
        system = facts[0].identifier_system
        params = {"e": est.id, "s": system, "v": array_param(s, [f.identifier_value for f in facts])}
        plan = _plan(s, _IDENTIFIERS_SQL[s.get_bind().dialect.name], params)
    if postgresql:
        assert "Index Only Scan using ix_learner_identifier_lookup" in plan, plan
    else:
        assert "USING COVERING INDEX ix_learner_identifier_lookup" in plan, plan
