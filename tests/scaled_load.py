"""The clients of a scaled run: Moodle sites posting xAPI batches, browsers launching over LTI.

``Load`` drives both kinds concurrently against a ``Stack`` (tests/scaled_stack.py), bounded in
count and time, and keeps what the server acknowledged, so that afterwards every acknowledged
completion can be matched with its issued award. A batch that fails (connection reset by a
killed web process, 5xx while PostgreSQL restarts) is sent again, as logstore_xapi resends what
it could not deliver; statements are stored once, so a resend duplicates nothing.
``run_faults`` is the fault scenario shared by benchmarks/faults.py and the CI test.
"""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.scaled_stack import Stack, awards_by_learner, completions, lti_launch, post_statements

RETRY_PAUSE = 0.5


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds (empty when nothing was measured)."""
    if len(values) < 2:
        return {f"p{q}": round(values[0] * 1000, 1) for q in (50, 95, 99)} if values else {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(cuts[49] * 1000, 1),
        "p95": round(cuts[94] * 1000, 1),
        "p99": round(cuts[98] * 1000, 1),
    }


@dataclass
class Load:
    stack: Stack
    tag: str  # learner names start with it: one run's awards are told from another's
    batches: int = 100
    batch_size: int = 10
    launches: int = 50
    threads: int = 8
    max_seconds: float = 60.0
    retry_seconds: float = 120.0  # how long a failed batch is resent before it counts as lost
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"xapi": [], "lti": []})
    acknowledged: dict[tuple[str, str], float] = field(default_factory=dict)  # (slug, learner) → sent at
    errors: Counter[str] = field(default_factory=Counter)
    resent: int = 0
    given_up: int = 0
    elapsed: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def _jobs(self) -> list[tuple[str, int]]:
        """xAPI batches and launches interleaved, so both run during the whole window."""
        every = max(1, self.batches // max(1, self.launches))
        jobs: list[tuple[str, int]] = []
        launched = 0
        for j in range(self.batches):
            jobs.append(("xapi", j))
            if j % every == every - 1 and launched < self.launches:
                jobs.append(("lti", launched))
                launched += 1
        jobs.extend(("lti", k) for k in range(launched, self.launches))
        return jobs

    def _xapi(self, http: requests.Session, j: int) -> None:
        est = self.stack.establishments[j % len(self.stack.establishments)]
        learners = [f"{self.tag}-{j}-{i}" for i in range(self.batch_size)]
        batch = completions(learners, cmid=1 + j % 2)
        sent_at = time.time()
        give_up = time.monotonic() + self.retry_seconds
        while True:
            started = time.perf_counter()
            try:
                status = post_statements(http, self.stack, est, batch)
            except requests.RequestException as exc:
                status, reason = 0, type(exc).__name__
            else:
                reason = f"HTTP {status}"
            if status == 200:
                with self._lock:
                    self.latencies["xapi"].append(time.perf_counter() - started)
                    for learner in learners:
                        self.acknowledged[(est.slug, learner)] = sent_at
                return
            with self._lock:
                self.errors[f"xapi {reason}"] += 1
            if 400 <= status < 500 or time.monotonic() > give_up:
                with self._lock:
                    self.given_up += 1
                return
            with self._lock:
                self.resent += 1
            time.sleep(RETRY_PAUSE)

    def _lti(self, http: requests.Session, k: int) -> None:
        est = self.stack.establishments[k % len(self.stack.establishments)]
        started = time.perf_counter()
        try:
            status = lti_launch(http, self.stack, est, f"{self.tag}-lti-{k}")
        except requests.RequestException as exc:
            status, reason = 0, type(exc).__name__
        else:
            reason = f"HTTP {status}"
        with self._lock:
            if status == 303:
                self.latencies["lti"].append(time.perf_counter() - started)
            else:
                self.errors[f"lti {reason}"] += 1  # a user would click again; not data

    def run(self) -> None:
        jobs = self._jobs()
        cursor = itertools.count()
        deadline = time.monotonic() + self.max_seconds

        def client() -> None:
            http = requests.Session()
            while not self.stop.is_set() and time.monotonic() < deadline:
                n = next(cursor)
                if n >= len(jobs):
                    return
                kind, index = jobs[n]
                (self._xapi if kind == "xapi" else self._lti)(http, index)

        started = time.perf_counter()
        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.elapsed = time.perf_counter() - started

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()

    def finish(self) -> None:
        self.stop.set()
        if self._thread is not None:
            self._thread.join(self.retry_seconds + 60)

    # ---- figures -------------------------------------------------------------------------------
    def requests_per_second(self) -> float:
        done = len(self.latencies["xapi"]) + len(self.latencies["lti"])
        return done / self.elapsed if self.elapsed else 0.0

    def wait_issued(self, timeout: float) -> list[tuple[str, str, str, str | None, Any]]:
        """Until every acknowledged completion has an issued award (or the timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = awards_by_learner(self.stack, self.tag + "-")
            issued = {(slug, learner) for slug, learner, _b, status, _at in rows if status == "issued"}
            if set(self.acknowledged) <= issued or time.monotonic() > deadline:
                return rows
            time.sleep(0.5)

    def badge_latencies(self, rows: list[tuple[str, str, str, str | None, Any]]) -> list[float]:
        """Seconds from the POST of each completion to its award's issued_at."""
        return [
            at.timestamp() - self.acknowledged[(slug, learner)]
            for slug, learner, _b, status, at in rows
            if status == "issued" and at is not None and (slug, learner) in self.acknowledged
        ]


def issue_rate(load: Load, rows: list[tuple[str, str, str, str | None, Any]]) -> float:
    """Awards issued per second, from the first completion sent to the last award issued: the
    delivery side's pace, to set against the rate completions arrived at."""
    issued = [at.timestamp() for _s, _l, _b, status, at in rows if status == "issued" and at is not None]
    if not issued or not load.acknowledged:
        return 0.0
    span = max(issued) - min(load.acknowledged.values())
    return len(issued) / span if span > 0 else 0.0


def healthz_baseline(stack: Stack, requests_count: int, threads: int) -> float:
    """Round trips per second to /healthz at the same concurrency: the web stack with no work."""
    cursor = itertools.count()

    def client() -> None:
        http = requests.Session()
        while next(cursor) < requests_count:
            http.get(stack.base_url + "/healthz", timeout=30).raise_for_status()

    started = time.perf_counter()
    pool = [threading.Thread(target=client) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return requests_count / (time.perf_counter() - started)


@dataclass
class FaultReport:
    acknowledged: int
    issued: int  # acknowledged completions whose award is issued
    missing: list[tuple[str, str]]
    duplicates: dict[tuple[str, str, str], int]  # (establishment, learner, badge) with >1 award
    emissions_per_award: Counter[int]  # how many emit messages each award had: {1: n} when right
    faults: dict[str, float]  # what was done, with how long it took (s)
    recovery_seconds: float  # from the end of the last fault until every award was issued
    load: Load
    worker_restarts: int

    def summary(self) -> dict[str, Any]:
        return {
            "acknowledged_completions": self.acknowledged,
            "issued": self.issued,
            "missing": len(self.missing),
            "duplicated": len(self.duplicates),
            "emissions_per_award": dict(self.emissions_per_award),
            "faults_s": {k: round(v, 1) for k, v in self.faults.items()},
            "recovery_s": round(self.recovery_seconds, 1),
            "worker_restarts_by_supervisor": self.worker_restarts,
            "batches_resent": self.load.resent,
            "batches_given_up": self.load.given_up,
            "client_errors": dict(self.load.errors),
            "xapi_ms": percentiles(self.load.latencies["xapi"]),
            "lti_ms": percentiles(self.load.latencies["lti"]),
        }


def _emissions(stack: Stack, tag: str) -> Counter[int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(stack.pg.url().replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            counts = conn.execute(
                text(
                    "SELECT a.id, count(o.id) FROM award a "
                    "JOIN learner_identifier li ON li.learner_id = a.learner_id AND li.system LIKE 'xapi:%' "
                    "LEFT JOIN outbox_message o ON o.dedupe_key = 'emit_badge:' || a.id "
                    "WHERE li.value LIKE :p GROUP BY a.id"
                ),
                {"p": tag + "-%"},
            ).all()
    finally:
        engine.dispose()
    return Counter(int(n) for _id, n in counts)


def run_faults(stack: Stack, load: Load, outage_seconds: float, recovery_timeout: float) -> FaultReport:
    """Under ``load``: kill -9 a web process and a worker, crash-restart PostgreSQL, take the
    broker away for ``outage_seconds``; then stop the load and wait for every award."""
    faults: dict[str, float] = {}

    def timed(name: str, action: Any) -> None:
        started = time.monotonic()
        action()
        faults[name] = time.monotonic() - started

    load.start()
    time.sleep(2)  # the load is flowing and the workers are delivering
    timed("kill -9 web process (until gunicorn replaced it)", stack.kill_web_process)
    time.sleep(1)
    timed("kill -9 worker (until the supervisor restarted it)", stack.kill_worker)
    time.sleep(1)
    timed("PostgreSQL immediate stop + start", stack.pg.crash_restart)
    time.sleep(1)
    timed(f"broker down {outage_seconds:.0f} s + restart", lambda: stack.broker_outage(outage_seconds))
    faults_over = time.monotonic()
    load.finish()
    rows = load.wait_issued(recovery_timeout)
    recovery = time.monotonic() - faults_over
    issued = {(slug, learner) for slug, learner, _b, status, _at in rows if status == "issued"}
    per_badge = Counter((slug, learner, badge) for slug, learner, badge, _s, _at in rows)
    return FaultReport(
        acknowledged=len(load.acknowledged),
        issued=len(set(load.acknowledged) & issued),
        missing=sorted(set(load.acknowledged) - issued),
        duplicates={k: n for k, n in per_badge.items() if n > 1},
        emissions_per_award=_emissions(stack, load.tag),
        faults=faults,
        recovery_seconds=recovery,
        load=load,
        worker_restarts=stack.worker_restarts,
    )
