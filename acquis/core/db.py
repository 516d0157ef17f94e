"""Engines and sessions, with the SQLite settings that make it safe for a web process plus a worker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from acquis.core.settings import Settings


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    # orjson for JSON columns: evidence and payloads are (de)serialised on every ingested batch.
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers go on while the worker writes; foreign keys are off by default.
            # Python's sqlite3 opens transactions lazily (on the first write), so a read followed
            # by a write could fail with "database is locked" instead of waiting: BEGIN IMMEDIATE
            # below takes the write lock up front, which is what a single-writer database needs.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # Ingest inserts at random places in the completions' and validations' indexes (by
            # learner): a 256 MiB page cache (2 MiB by default) keeps those pages instead of
            # reading them back for every batch (64 MiB no longer held them past ~100,000
            # completions: 256 measured +13% ingest throughput at 200,000). It is a ceiling
            # per connection, filled only with pages that connection reads: a small database
            # costs little. Checkpointing every 40,000 WAL pages
            # (1,000 by default) writes a page changed by many batches to the database once.
            # Each batch rewrites most leaf pages of those indexes, so the checkpoint's work
            # falls with its interval: 10,000 → 40,000 pages measured +5% ingest throughput
            # (benchmarks/ingest.py), for a WAL file of up to ~160 MiB between checkpoints.
            cur.execute("PRAGMA cache_size=-262144")
            cur.execute("PRAGMA wal_autocheckpoint=40000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(database_url, **kwargs)

    @event.listens_for(engine, "connect")
    def _postgresql_settings(dbapi_conn: Any, _record: Any) -> None:
        # No JIT compilation: it pays off on long analytic queries, and costs milliseconds on
        # each of ingest's reads, whose estimated cost (thousands of index probes) crosses
        # jit_above_cost.
        with dbapi_conn.cursor() as cur:
            cur.execute("SET jit = off")
        dbapi_conn.commit()

    return engine


class Database:
    """One engine and its session factory; the app, the CLI and the worker each hold one."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        if settings.is_sqlite:
            settings.instance_path.mkdir(parents=True, exist_ok=True)
        self.engine = engine or make_engine(settings.database_url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed if the block ends normally, rolled back on any error."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
