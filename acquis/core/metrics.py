"""Prometheus metrics: what was ingested, delivered, failed, and how long launches take.

Counters live in the process that counts (web processes count ingest and launches, workers
count deliveries). With several processes on one host (gunicorn workers, `acquis worker`),
set ``PROMETHEUS_MULTIPROC_DIR`` to one empty folder for all of them before they start:
prometheus_client then keeps each process's values in files there and ``/metrics`` adds them
up. The outbox depth is not counted anywhere: it is read from the database at scrape time, so
every web process reports the same truth.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector
from sqlalchemy import func, select

from acquis.core.db import Database
from acquis.core.models import OutboxMessage

EVENTS_INGESTED = Counter(
    "acquis_events_ingested",
    "Statements accepted on an establishment's endpoint: stored, duplicate (already stored) or "
    "ignored (no completion in it) or erased (about a learner erased on request: dropped).",
    ["establishment", "outcome"],
)
AWARDS_DELIVERED = Counter("acquis_awards_delivered", "Awards an emitter confirmed as issued.", ["emitter"])
DELIVERY_FAILURES = Counter(
    "acquis_delivery_failures",
    "Failed delivery attempts by kind: transient (retried), unknown (reconciled, then retried), "
    "permanent (parked for an admin).",
    ["kind", "topic"],
)
LAUNCH_LATENCY = Histogram(
    "acquis_lti_launch_seconds",
    "Time to answer an LTI 1.3 launch (id token checked, session opened, page chosen).",
    ["outcome"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INGEST_THROTTLED = Counter(
    "acquis_ingest_throttled",
    "Statement batches refused with 429 because the establishment's rate limit was reached.",
    ["establishment"],
)


def count_ingest(establishment: str, stored: int, duplicates: int, ignored: int = 0, erased: int = 0) -> None:
    """``ignored``: statements carrying no completion (other verbs); ``erased``: about a learner
    whose data was erased, dropped."""
    outcomes = (("stored", stored), ("duplicate", duplicates), ("ignored", ignored), ("erased", erased))
    for outcome, n in outcomes:
        if n:
            EVENTS_INGESTED.labels(establishment, outcome).inc(n)


class OutboxDepth(Collector):
    """``acquis_outbox_depth{status, topic}``: messages waiting (pending) or parked (failed)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "acquis_outbox_depth",
            "Outbox messages not delivered yet (pending) or parked for an admin (failed), read at scrape.",
            labels=["status", "topic"],
        )
        with self.db.engine.connect() as conn:
            rows = conn.execute(
                select(OutboxMessage.status, OutboxMessage.topic, func.count())
                .where(OutboxMessage.status.in_(("pending", "failed")))
                .group_by(OutboxMessage.status, OutboxMessage.topic)
            ).all()
        for status in ("pending", "failed"):  # both series exist even when empty
            if not any(r[0] == status for r in rows):
                family.add_metric([status, ""], 0)
        for status, topic, n in rows:
            family.add_metric([status, topic], n)
        yield family


def serve(db: Database, port: int, host: str = "127.0.0.1") -> Any:
    """Expose a worker's metrics on ``host:port`` (workers have no web app to serve /metrics).

    Loopback by default, like /metrics without a token: put it behind what scrapes it.
    """
    from prometheus_client import start_http_server

    registry = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(REGISTRY))
    registry.register(OutboxDepth(db))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server  # its thread is a daemon; tests shut it down


class _Forward(Collector):
    """The default registry's metrics, inside another registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        yield from self.source.collect()


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def counted() -> bytes:
    """This process's counters, or every process's in multiprocess mode, as text."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def exposition(db: Database) -> bytes:
    """The text exposition of the counters and of the outbox depth read now."""
    depth = CollectorRegistry()
    depth.register(OutboxDepth(db))
    return counted() + generate_latest(depth)
