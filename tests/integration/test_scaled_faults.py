"""Issue 8, the CI short form of benchmarks/faults.py: a scaled deployment under load survives
kill -9 of a web process and of a worker, a PostgreSQL crash-restart and a broker outage, and
recovers by itself with nothing lost and nothing duplicated.

Real parts throughout: its own PostgreSQL cluster and redis-server (never the machine's shared
ones), one establishment (three in the benchmark), gunicorn with two web processes, two
`acquis worker --celery` kept alive by a supervisor (as systemd's Restart=always), setup through
the `acquis` CLI, xAPI batches over HTTP and LTI launches with id_tokens signed by the
platform's key. The broker is away 10 s here (30 s in the benchmark). Every process is stopped
at the end, even on failure (``running``'s finally).
"""

from __future__ import annotations

from tests import scaled_stack
from tests.scaled_load import Load, run_faults


def test_scaled_mode_under_load_loses_and_duplicates_nothing_through_four_faults() -> None:
    env = {"ACQUIS_DELIVERY_LEASE_SECONDS": "5"}  # a killed worker's leases run out within seconds
    with scaled_stack.running(web_processes=2, workers=2, establishments=1, env=env) as stack:
        load = Load(stack, tag="ci", batches=10_000, batch_size=5, launches=2_000, threads=4, max_seconds=90)
        report = run_faults(stack, load, outage_seconds=10, recovery_timeout=90)
        summary = report.summary()
        print("\n", summary)
        logs = stack.log_tail("worker-", 1500) + stack.log_tail("web-", 1500)

        assert report.acknowledged > 100, f"too little load to prove anything: {summary}"
        assert report.missing == [], f"lost: {report.missing[:10]} {summary}\n{logs}"
        assert report.issued == report.acknowledged
        assert report.duplicates == {}, f"duplicated: {report.duplicates}"
        assert set(report.emissions_per_award) == {1}, summary  # one emit message per award
        assert report.load.given_up == 0, summary
        assert report.worker_restarts >= 1  # the supervisor, not the test, brought the worker back
        # Every fault happened while the load was flowing: requests were refused or reset.
        assert report.load.resent > 0, summary
