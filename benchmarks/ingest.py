"""Ingest throughput: the whole pipeline against raw parse + bulk insert of the same statements.

    python benchmarks/ingest.py [--events 200000] [--learners 10000] [--activities 200]
                                [--batch 1000] [--database-url postgresql://…]

Synthesises statements shaped like Moodle's logstore_xapi output (8% failed attempts, 4%
"uncompleted"), tags 200 activities to a 16-competency, 5-level framework, then measures in the
same run and on the same kind of database:
  (a) ceiling: decoding each request body (orjson, as the endpoint does) and a bulk INSERT of
      the raw statements;
  (b) pipeline: parse/validate → store once (dedupe) → rules → validations → awards queued.
The last line printed is JSON: {"events", "pipeline_events_per_s", "ceiling_events_per_s", "ratio", …}.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, func, select, text
from sqlalchemy.engine import Engine

from acquis.core import crypto, establishments, frameworks, migrate, tags
from acquis.core.db import Database
from acquis.core.ingest import ingest
from acquis.core.models import Award, Completion, OutboxMessage, Validation
from acquis.core.plugins import PluginHost
from acquis.core.rules import Catalogue
from acquis.core.settings import Settings
from acquis.core.xapi import parse_batch

HOME = "https://moodle.bench.example"
LEVELS = ["Novice", "Intermédiaire", "Compétent", "Avancé", "Expert"]


def synthesise(n: int, learners: int, activities: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    out: list[dict[str, Any]] = []
    for i in range(n):
        user = rng.randrange(learners)
        cmid = rng.randrange(activities)
        roll = rng.random()
        stmt: dict[str, Any] = {
            "actor": {"account": {"homePage": HOME, "name": str(user)}, "name": f"Étudiant {user}"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "Completed"}},
            "object": {
                "id": f"{HOME}/mod/quiz/view.php?id={cmid}",
                "definition": {
                    "name": {"fr": f"Activité {cmid}"},
                    "type": "http://adlnet.gov/expapi/activities/assessment",
                },
                "objectType": "Activity",
            },
            "context": {
                "contextActivities": {
                    "parent": [
                        {
                            "id": f"{HOME}/course/view.php?id={cmid % 12}",
                            "objectType": "Activity",
                            "definition": {"type": "https://w3id.org/xapi/cmi5/activitytype/course"},
                        }
                    ],
                    "category": [
                        {
                            "id": HOME,
                            "objectType": "Activity",
                            "definition": {"type": "http://id.tincanapi.com/activitytype/lms"},
                        }
                    ],
                },
                "extensions": {
                    "http://lrs.learninglocker.net/define/extensions/info": {
                        "event_name": "\\core\\event\\course_module_completion_updated",
                        "http://moodle.org": "4.3",
                    }
                },
                "language": "fr",
            },
            "timestamp": (start + timedelta(seconds=i * 13)).isoformat().replace("+00:00", "Z"),
        }
        if roll < 0.04:
            stmt["verb"] = {"id": "https://xapi.edlm/profiles/edlm-lms/concepts/verbs/uncompleted"}
        else:
            stmt["result"] = {
                "completion": True,
                "success": roll >= 0.12,
                "score": {"scaled": round(rng.random(), 2)},
            }
        if i % 3 == 0:
            stmt["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out.append(stmt)
    return out


def bodies(statements: list[dict[str, Any]], batch: int) -> list[bytes]:
    """The request bodies a sender would post: JSON arrays of `batch` statements."""
    return [json.dumps(statements[i : i + batch]).encode() for i in range(0, len(statements), batch)]


def ceiling(engine: Engine, payloads: list[bytes]) -> float:
    meta = MetaData()
    raw = Table(
        "bench_raw_statement",
        meta,
        Column("id", Integer, primary_key=True),
        Column("actor", String(255)),
        Column("verb", String(255)),
        Column("object", String(1024)),
        Column("body", Text),
    )
    meta.drop_all(engine)
    meta.create_all(engine)
    started = time.perf_counter()
    for body in payloads:
        statements = orjson.loads(body)
        rows = [
            {
                "actor": s["actor"]["account"]["name"],
                "verb": s["verb"]["id"],
                "object": s["object"]["id"],
                "body": orjson.dumps(s).decode(),
            }
            for s in statements
        ]
        with engine.begin() as conn:
            conn.execute(raw.insert(), rows)
    elapsed = time.perf_counter() - started
    meta.drop_all(engine)
    return elapsed


def setup_tenant(db: Database, host: PluginHost, activities: int) -> int:
    definition = {
        "code": "bench",
        "title": "Benchmark framework",
        "scale": LEVELS,
        "competencies": [{"code": f"C{i + 1}", "title": f"Compétence {i + 1}"} for i in range(16)],
    }
    with db.session() as s:
        est, _ = establishments.create(s, "bench", "Bench University")
        frameworks.import_definition(s, est, definition, create_badges=True)
        levels = [(f"C{c + 1}", lv) for c in range(16) for lv in LEVELS]
        for cmid in range(activities):
            comp, lv = levels[cmid % len(levels)]
            level = tags.find_level(s, est, comp, lv)
            tags.add_rule(s, est, level, [f"{HOME}/mod/quiz/view.php?id={cmid}"])
        return est.id


def pipeline(db: Database, host: PluginHost, establishment_id: int, payloads: list[bytes]) -> float:
    with db.session() as s:
        catalogue = Catalogue.load(s, establishment_id)
    started = time.perf_counter()
    for body in payloads:
        now = datetime.now(UTC)
        facts = [f for f in parse_batch(orjson.loads(body), now) if f is not None]
        with db.session() as s:
            ingest(s, host, establishment_id, facts, catalogue)
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--learners", type=int, default=10_000)
    ap.add_argument("--activities", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--database-url", help="PostgreSQL URL; default: a SQLite file in a temp folder")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="acquis-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
    settings = Settings.from_env({"ACQUIS_INSTANCE_PATH": str(tmp), "ACQUIS_DATABASE_URL": url})
    crypto.configure((crypto.generate_key(),))
    db = Database(settings)
    if not settings.is_sqlite:
        with db.engine.begin() as conn:  # a clean schema for a repeatable run
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(db.engine)
    host = PluginHost()
    est_id = setup_tenant(db, host, args.activities)

    print(f"synthesising {args.events} statements ({args.learners} learners, {args.activities} activities)…")
    payloads = bodies(synthesise(args.events, args.learners, args.activities), args.batch)
    backend = db.engine.dialect.name
    ceiling_s = ceiling(create_engine(url) if not settings.is_sqlite else db.engine, payloads)
    print(f"ceiling  ({backend}): {args.events / ceiling_s:,.0f} events/s ({ceiling_s:.1f} s)")
    pipeline_s = pipeline(db, host, est_id, payloads)
    print(f"pipeline ({backend}): {args.events / pipeline_s:,.0f} events/s ({pipeline_s:.1f} s)")
    with db.session() as s:
        counts = {
            name: int(s.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in (
                ("completions", Completion),
                ("validations", Validation),
                ("awards", Award),
                ("outbox", OutboxMessage),
            )
        }
    print("stored: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    result = {
        "events": args.events,
        "backend": backend,
        "pipeline_events_per_s": round(args.events / pipeline_s),
        "ceiling_events_per_s": round(args.events / ceiling_s),
        "ratio": round(ceiling_s / pipeline_s, 3),
        **counts,
    }
    print(json.dumps(result))
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
