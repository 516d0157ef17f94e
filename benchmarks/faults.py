"""Scaled mode under load and faults: nothing lost, nothing duplicated, recovery without a human.

    python benchmarks/faults.py [--quick] [--outage 30] [--web 2] [--workers 2] [--lease 10]

Brings up the loopback scaled deployment of benchmarks/load.py (its own PostgreSQL cluster and
redis-server, gunicorn, Celery workers under a supervisor loop as systemd would run them), starts
xAPI and LTI load, and while it flows: kill -9 of a gunicorn worker (the master replaces it),
kill -9 of a Celery worker and its pool (the supervisor restarts it), an immediate stop and
start of PostgreSQL (crash recovery), and the broker killed for --outage seconds (30 by default;
the CI short form, tests/integration/test_scaled_faults.py, uses 10). Clients resend what failed,
as logstore_xapi does. Then it stops the load and waits: every completion the server
acknowledged must have exactly one issued award, and every award exactly one emission.
ACQUIS_DELIVERY_LEASE_SECONDS is --lease (10 s) so that a killed worker's messages come back
within the run; with the default 120 s recovery takes that much longer.

Prints what each fault took, time to recovery, the load's latencies during the faults against
the same load without faults measured first in the same run (the baseline), and the counts.
Exits 1 when anything was lost or duplicated. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import scaled_stack  # noqa: E402
from tests.scaled_load import Load, percentiles, run_faults  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 s outage, less load")
    ap.add_argument("--outage", type=float, default=30, help="seconds the broker is away")
    ap.add_argument("--web", type=int, default=2, help="gunicorn web processes")
    ap.add_argument("--workers", type=int, default=2, help="Celery workers")
    ap.add_argument("--lease", type=int, default=10, help="ACQUIS_DELIVERY_LEASE_SECONDS")
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--recovery-timeout", type=float, default=180)
    args = ap.parse_args()
    if args.quick:
        args.outage, args.batch_size = 10, 5
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    env = {"ACQUIS_DELIVERY_LEASE_SECONDS": str(args.lease)}

    started = time.monotonic()
    with scaled_stack.running(args.web, args.workers, establishments=3, env=env) as stack:
        print(
            f"stack up in {time.monotonic() - started:.0f} s: "
            f"{args.web} web processes, {args.workers} workers"
        )
        calm = Load(
            stack, tag="calm", batches=100, batch_size=args.batch_size, launches=30, threads=args.threads
        )
        calm.run()
        calm.wait_issued(120)
        print(
            f"baseline without faults: {calm.requests_per_second():.1f} req/s, "
            f"xAPI ms {percentiles(calm.latencies['xapi'])}"
        )
        load = Load(
            stack,
            tag="faults",
            batches=100_000,
            batch_size=args.batch_size,
            launches=20_000,
            threads=args.threads,
            max_seconds=600,
            retry_seconds=args.outage + 120,
        )
        report = run_faults(stack, load, outage_seconds=args.outage, recovery_timeout=args.recovery_timeout)
        summary = report.summary()
        summary["baseline_requests_per_s"] = round(calm.requests_per_second(), 1)
        summary["baseline_xapi_ms"] = percentiles(calm.latencies["xapi"])
        summary["requests_per_s_during_faults"] = round(load.requests_per_second(), 1)
        summary["ratio_to_baseline"] = round(load.requests_per_second() / calm.requests_per_second(), 3)
    for name, seconds in report.faults.items():
        print(f"  {name}: {seconds:.1f} s")
    ok = not report.missing and not report.duplicates and set(report.emissions_per_award) == {1}
    print(
        f"{report.acknowledged} completions acknowledged, {report.issued} issued, "
        f"{len(report.missing)} lost, "
        f"{len(report.duplicates)} duplicated; emissions per award {dict(report.emissions_per_award)}; "
        f"recovered {report.recovery_seconds:.1f} s after the last fault; "
        f"{report.worker_restarts} worker restart(s) by the supervisor; {load.resent} batches resent; "
        f"client errors {dict(load.errors)}"
    )
    print(
        f"during faults: {summary['requests_per_s_during_faults']} req/s (×{summary['ratio_to_baseline']} of "
        f"the baseline), xAPI ms {summary['xapi_ms']}, LTI ms {summary['lti_ms']}"
    )
    print("PASS: nothing lost, nothing duplicated" if ok else "FAIL")
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
