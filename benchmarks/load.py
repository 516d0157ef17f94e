"""Scaled mode under load: xAPI ingest and LTI launches at 1, 2, 4 web processes × 1, 2 workers.

    python benchmarks/load.py [--quick] [--batches 200] [--batch-size 10] [--launches 60]
                              [--threads 8] [--max-seconds 60] [--establishments 3]

Brings up on loopback a scaled deployment of its own (tests/scaled_stack.py): a fresh
PostgreSQL cluster and redis-server on free ports, `acquis db upgrade`, establishments, the demo
framework, tags and LTI platforms registered through the `acquis` CLI, then for each
configuration gunicorn with W web processes (4 threads each) and W' `acquis worker --celery`
(concurrency 2), badges issued by the native Open Badges issuer. Clients post batches of
completions as logstore_xapi does (one new learner per statement, so each is one badge) and run
LTI launches (/lti/login → id_token signed with the platform's key → /lti/launch), interleaved,
bounded in count and time. Per configuration it prints requests/s, p50/p95/p99 of each kind,
completion → badge issued latency p50/p95 (from the POST to the award's issued_at), and two
ratios measured in the same run: throughput against /healthz round trips of the same
configuration, and against the first configuration (1 web process, 1 worker). Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import scaled_stack  # noqa: E402
from tests.scaled_load import Load, healthz_baseline, issue_rate, percentiles  # noqa: E402

CONFIGURATIONS = [(1, 1), (1, 2), (2, 1), (2, 2), (4, 1), (4, 2)]  # (web processes, workers)


def measure(stack: scaled_stack.Stack, web: int, workers: int, args: argparse.Namespace) -> dict[str, Any]:
    stack.start_web(web)
    stack.start_workers(workers)
    try:
        baseline = healthz_baseline(stack, args.healthz, args.threads)
        load = Load(
            stack,
            tag=f"w{web}x{workers}",
            batches=args.batches,
            batch_size=args.batch_size,
            launches=args.launches,
            threads=args.threads,
            max_seconds=args.max_seconds,
        )
        load.run()
        rows = load.wait_issued(args.drain_seconds)
        badge = load.badge_latencies(rows)
    finally:
        stack.stop_workers()
        stack.stop_web()
    rps = load.requests_per_second()
    return {
        "web": web,
        "workers": workers,
        "seconds": round(load.elapsed, 1),
        "xapi_requests": len(load.latencies["xapi"]),
        "lti_launches": len(load.latencies["lti"]),
        "completions": len(load.acknowledged),
        "requests_per_s": round(rps, 1),
        "statements_per_s": round(len(load.acknowledged) / load.elapsed, 1) if load.elapsed else 0,
        "xapi_ms": percentiles(load.latencies["xapi"]),
        "lti_ms": percentiles(load.latencies["lti"]),
        "badges_issued": len(badge),
        "badge_s": {k: round(v / 1000, 2) for k, v in percentiles(badge).items()},
        "awards_issued_per_s": round(issue_rate(load, rows), 1),
        "healthz_per_s": round(baseline, 1),
        "ratio_to_healthz": round(rps / baseline, 3) if baseline else None,
        "errors": dict(load.errors),
    }


def show(r: dict[str, Any]) -> None:
    x, lti, b = r["xapi_ms"], r["lti_ms"], r["badge_s"]
    print(
        f"web {r['web']} × workers {r['workers']}: {r['requests_per_s']:.1f} req/s "
        f"({r['statements_per_s']:.0f} statements/s, {r['xapi_requests']} batches, "
        f"{r['lti_launches']} launches in {r['seconds']} s); ×{r['ratio_to_first']} of the first "
        f"configuration; {r['ratio_to_healthz']} of /healthz ({r['healthz_per_s']}/s)"
    )
    print(f"  xAPI ms p50/p95/p99 {x.get('p50')}/{x.get('p95')}/{x.get('p99')}")
    print(f"  LTI launch ms p50/p95/p99 {lti.get('p50')}/{lti.get('p95')}/{lti.get('p99')}")
    print(
        f"  completion → badge issued s p50/p95 {b.get('p50')}/{b.get('p95')} "
        f"({r['badges_issued']} of {r['completions']}); issued {r['awards_issued_per_s']}/s "
        f"against {r['statements_per_s']:.0f} completions/s sent"
    )
    if r["errors"]:
        print(f"  errors {r['errors']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 configurations, little load")
    ap.add_argument("--batches", type=int, default=200, help="xAPI requests per configuration")
    ap.add_argument("--batch-size", type=int, default=10, help="statements per request")
    ap.add_argument("--launches", type=int, default=60, help="LTI launches per configuration")
    ap.add_argument("--threads", type=int, default=8, help="concurrent clients")
    ap.add_argument("--healthz", type=int, default=400, help="/healthz round trips for the baseline")
    ap.add_argument("--max-seconds", type=float, default=60, help="load time bound per configuration")
    ap.add_argument("--drain-seconds", type=float, default=90, help="wait for the last badges")
    ap.add_argument("--establishments", type=int, default=3)
    ap.add_argument("--configs", help="e.g. 1x1,4x2 (web processes x workers); default all six")
    ap.add_argument("--window", help="ACQUIS_EMIT_BATCH_WINDOW_SECONDS for the run (default: acquis's)")
    args = ap.parse_args()
    configurations = CONFIGURATIONS
    if args.quick:
        args.batches, args.launches, args.healthz, args.establishments = 30, 10, 100, 2
        configurations = [(1, 1), (2, 2)]
    if args.configs:
        configurations = [(int(w), int(k)) for w, k in (c.split("x") for c in args.configs.split(","))]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the platforms' JWKS endpoint
    env = {"ACQUIS_EMIT_BATCH_WINDOW_SECONDS": args.window} if args.window else {}

    started = time.monotonic()
    results: list[dict[str, Any]] = []
    with scaled_stack.running(1, 0, establishments=args.establishments, env=env) as stack:
        up = time.monotonic() - started
        print(f"stack up in {up:.0f} s: PostgreSQL :{stack.pg.port}, Redis :{stack.redis.port}")
        for web, workers in configurations:
            stack.stop_web()
            result = measure(stack, web, workers, args)
            first = results[0] if results else result
            result["ratio_to_first"] = round(result["requests_per_s"] / first["requests_per_s"], 3)
            results.append(result)
            show(result)
    p95 = max((r["badge_s"].get("p95", 0) for r in results), default=0)
    print(f"worst completion → badge p95: {p95} s (target ≤ 10 s); total {time.monotonic() - started:.0f} s")
    print(json.dumps({"configurations": results, "worst_badge_p95_s": p95}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
