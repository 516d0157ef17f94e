"""Delivery throughput of the native issuer: awards delivered per second by one Deliverer.

    python benchmarks/delivery.py [--awards 2000] [--batch 50] [--database-url postgresql://…]

Ingests one completion for each of N learners on an activity tagged to a level with a badge
class, which queues N awards and their ``emit_badge`` messages for the native issuer (the
establishment's default adapter), then measures in the same run and on the same database:
  (a) ceiling: the writes an issuance cannot do without, done as cheaply as they can be: per
      batch of ``--batch`` messages, one transaction with one UPDATE of their outbox rows and
      one of their awards (then both are put back to pending for the next measurement);
  (b) delivery: ``Deliverer.run_once(--batch)`` until the outbox is drained — claim, lease,
      snapshots, the hook, the recording of the receipt and of the ``badge_emitted`` broadcast.
It counts the SQL statements the delivery sends (a ``before_cursor_execute`` listener; an
executemany counts once) and checks every award ended ``issued`` exactly once. The last line
printed is JSON: {"awards", "delivered_per_s", "ceiling_per_s", "ratio", "statements_per_award", …}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from bench_db import fresh_database
from sqlalchemy import event, func, select, update

from acquis.core import establishments, frameworks, tags
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.ingest import ingest
from acquis.core.models import Award, OutboxMessage
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch

HOME = "https://moodle.bench.example"
ACTIVITY = f"{HOME}/mod/quiz/view.php?id=1"
PUBLIC_URL = "https://acquis.bench.example"


def statement(user: int) -> dict[str, Any]:
    return {
        "actor": {"account": {"homePage": HOME, "name": str(user)}, "name": f"Étudiant {user}"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "Completed"}},
        "object": {
            "id": ACTIVITY,
            "definition": {
                "name": {"fr": "Quiz 1"},
                "type": "http://adlnet.gov/expapi/activities/assessment",
            },
            "objectType": "Activity",
        },
        "timestamp": datetime(2026, 9, 1, tzinfo=UTC).isoformat(),
    }


def queue_awards(db: Database, host: PluginHost, n: int) -> int:
    definition = {
        "code": "bench",
        "title": "Benchmark",
        "scale": ["Novice"],
        "competencies": [{"code": "C1", "title": "C1"}],
    }
    with db.session() as s:
        est, _ = establishments.create(s, "bench", "Bench University")  # native issuer enabled
        frameworks.import_definition(s, est, definition, create_badges=True)
        tags.add_rule(s, est, tags.find_level(s, est, "C1", "Novice"), [ACTIVITY])
        est_id = est.id
    now = datetime.now(UTC)
    for start in range(0, n, 1000):
        facts = [f for f in parse_batch([statement(u) for u in range(start, min(n, start + 1000))], now) if f]
        with db.session() as s:
            ingest(s, host, est_id, facts)
    with db.session() as s:
        queued = s.scalar(select(func.count()).where(OutboxMessage.topic == "emit_badge")) or 0
    if queued != n:
        raise SystemExit(f"expected {n} emit_badge messages, found {queued}")
    return est_id


def ceiling(db: Database, batch: int) -> float:
    with db.session() as s:
        pairs = list(
            s.execute(
                select(OutboxMessage.id, Award.id)
                .join(Award, Award.id == OutboxMessage.payload["award_id"].as_integer())
                .where(OutboxMessage.topic == "emit_badge")
                .order_by(OutboxMessage.id)
            )
        )
    started = time.perf_counter()
    for i in range(0, len(pairs), batch):
        chunk = pairs[i : i + batch]
        with db.session() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([m for m, _ in chunk]))
                .values(status="done", done_at=func.now(), attempts=OutboxMessage.attempts + 1)
            )
            s.execute(
                update(Award)
                .where(Award.id.in_([a for _, a in chunk]))
                .values(status="issued", issued_at=func.now())
            )
    elapsed = time.perf_counter() - started
    with db.session() as s:  # back to pending for the delivery measurement
        s.execute(update(OutboxMessage).values(status="pending", done_at=None, attempts=0))
        s.execute(update(Award).values(status="pending", issued_at=None))
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--awards", type=int, default=2000)
    ap.add_argument(
        "--batch", type=int, default=50, help="messages claimed per run_once (the worker's default)"
    )
    ap.add_argument("--database-url", help="PostgreSQL URL; default: a SQLite file in a temp folder")
    args = ap.parse_args()

    _, db = fresh_database(args.database_url)
    host = PluginHost()
    print(f"queueing {args.awards} awards…")
    queue_awards(db, host, args.awards)
    backend = db.engine.dialect.name

    ceiling_s = ceiling(db, args.batch)
    print(f"ceiling  ({backend}): {args.awards / ceiling_s:,.0f} awards/s ({ceiling_s:.2f} s)")

    statements: Counter[str] = Counter()

    def count(conn: Any, cursor: Any, sql: str, params: Any, context: Any, executemany: bool) -> None:
        statements[sql.split(None, 1)[0].upper()] += 1

    deliverer = Deliverer(db, host, "bench-worker", PUBLIC_URL)
    event.listen(db.engine, "before_cursor_execute", count)
    started = time.perf_counter()
    while deliverer.run_once(args.batch):
        pass
    delivery_s = time.perf_counter() - started
    event.remove(db.engine, "before_cursor_execute", count)
    total = sum(statements.values())
    print(f"delivery ({backend}): {args.awards / delivery_s:,.0f} awards/s ({delivery_s:.2f} s)")
    kinds = ", ".join(f"{k} {v}" for k, v in statements.most_common())
    print(f"statements per award: {total / args.awards:.2f} ({kinds})")

    with db.session() as s:
        issued = s.scalar(select(func.count()).select_from(Award).where(Award.status == "issued")) or 0
        left = (
            s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status != "done"))
            or 0
        )
    if issued != args.awards or left:
        print(f"FAILED: {issued} awards issued of {args.awards}, {left} messages not done", file=sys.stderr)
        return 1
    result = {
        "awards": args.awards,
        "backend": backend,
        "batch": args.batch,
        "delivered_per_s": round(args.awards / delivery_s),
        "ceiling_per_s": round(args.awards / ceiling_s),
        "ratio": round(ceiling_s / delivery_s, 3),
        "statements_per_award": round(total / args.awards, 2),
    }
    print(json.dumps(result))
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
