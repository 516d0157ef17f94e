"""What the operational layer costs the statements endpoint: rate limit, erased-learner filter.

    python benchmarks/ops_overhead.py [--batches 200] [--batch 100] [--erased 1000]
                                      [--database-url postgresql://…]

Posts the same synthetic Moodle statements (new learners and activities, so every batch is
stored and goes through the rules) to the real endpoint through Flask's test client, in three
configurations measured in the same run, each on its own establishment:
  (a) baseline: ACQUIS_INGEST_RATE_LIMIT=0 (no rate-limit statement), no erased identifiers;
  (b) + rate limit: the per-establishment UPSERT in its own transaction before each batch;
  (c) + rate limit and ``--erased`` erased identifiers in the table (the keyed-digest look-up).
Request ids, the access log line and the metrics are on in all three. The last line is JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from acquis.core import crypto, establishments, frameworks, migrate, tags
from acquis.core.db import Database
from acquis.core.erasure import _digests
from acquis.core.models import ErasedIdentifier, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.runtime import Runtime
from acquis.core.settings import Settings
from acquis.web.app import create_app

HOME = "https://moodle.bench.example"


def statements(batch_no: int, size: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "actor": {
                "account": {"homePage": HOME, "name": f"{tag}-{batch_no}-{i}"},
                "name": f"Étudiant {i}",
            },
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "Completed"}},
            "object": {
                "id": f"{HOME}/mod/quiz/view.php?id={i % 20}",
                "definition": {"name": {"fr": f"Activité {i % 20}"}},
                "objectType": "Activity",
            },
            "result": {"completion": True, "success": True},
            "timestamp": "2026-10-01T10:00:00+00:00",
        }
        for i in range(size)
    ]


def prepare(rt: Runtime, slug: str, erased: int) -> Any:
    """An establishment with one tagged competency; returns a function posting batch ``b``."""
    with rt.db.session() as s:
        est, cred = establishments.create(s, slug, slug, default_adapters=())
        frameworks.import_definition(
            s,
            est,
            {"code": "b", "title": "B", "scale": ["N1"], "competencies": [{"code": "C1", "title": "C"}]},
        )
        level = tags.find_level(s, est, "C1", "N1")
        tags.add_rule(
            s, est, level, [f"{HOME}/mod/quiz/view.php?id={i}" for i in range(20)], "completion", None, 1
        )
        keys = crypto.configured_keys()[:1]
        s.add_all(
            ErasedIdentifier(
                establishment_id=est.id,
                digest=_digests(f"xapi:{HOME}", f"gone-{i}", keys)[0],
                erased_at=utcnow(),
            )
            for i in range(erased)
        )
    client = create_app(rt).test_client()

    def post(body: str) -> float:
        started = time.perf_counter()
        answer = client.post(
            f"/e/{slug}/xapi/statements",
            data=body,
            content_type="application/json",
            auth=(cred.key, cred.secret),
        )
        elapsed = time.perf_counter() - started
        assert answer.status_code == 200, answer.data
        return elapsed

    return post


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--erased", type=int, default=1000)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="acquis-bench-"))
    crypto.configure((crypto.generate_key(),))
    url = args.database_url or f"sqlite:///{tmp / 'acquis.db'}"
    settings = Settings.from_env(
        {"ACQUIS_INSTANCE_PATH": str(tmp), "ACQUIS_DATABASE_URL": url, "ACQUIS_WORKER": "none"}
    )
    db = Database(settings)
    migrate.upgrade(db.engine)
    unlimited = Runtime(settings=dataclasses.replace(settings, ingest_rate_limit=0), db=db, host=PluginHost())
    limited = Runtime(
        settings=dataclasses.replace(settings, ingest_rate_limit=10_000_000), db=db, host=unlimited.host
    )
    tag = str(int(time.time()))
    configs = [
        prepare(unlimited, f"base-{tag}", 0),
        prepare(limited, f"rate-{tag}", 0),
        prepare(limited, f"erased-{tag}", args.erased),
    ]
    for i, post in enumerate(configs):  # warm-up: imports, caches, first connections
        post(json.dumps(statements(-1, args.batch, f"warm{i}")))
    spent = [0.0, 0.0, 0.0]
    # Interleaved, in a rotating order, so that drift (database growth, a busy machine) falls
    # on every configuration alike.
    for b in range(args.batches):
        body = json.dumps(statements(b, args.batch, tag))
        for k in range(3):
            i = (b + k) % 3
            spent[i] += configs[i](body)
    base, rate, both = (args.batches * args.batch / t for t in spent)
    db.dispose()
    backend = "postgresql" if url.startswith("postgres") else "sqlite"
    print(f"{backend}: {args.batches} batches of {args.batch} statements through the endpoint")
    print(f"  (a) baseline (no rate limit)          {base:10.0f} statements/s")
    print(f"  (b) + rate limit                      {rate:10.0f} statements/s  ratio {rate / base:.3f}")
    print(
        f"  (c) + rate limit + {args.erased} erased ids  {both:10.0f} statements/s  ratio {both / base:.3f}"
    )
    print(
        json.dumps(
            {
                "backend": backend,
                "baseline_per_s": round(base),
                "rate_limit_per_s": round(rate),
                "rate_limit_and_erased_per_s": round(both),
                "ratio_rate": round(rate / base, 3),
                "ratio_both": round(both / base, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
