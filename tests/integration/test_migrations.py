"""Migrations and models agree, and the schema can be built from nothing and torn down."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

from acquis.core import migrate
from acquis.core.db import make_engine
from acquis.core.models import Base, dedupe_key
from tests.conftest import BACKENDS, PG_ADMIN_URL, ensure_postgres


def test_models_match_the_migrated_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert migrate.is_current(engine)
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == [], f"models and migrations differ; write a migration: {diff}"
    finally:
        engine.dispose()


def test_a_fresh_sqlite_database_upgrades_and_downgrades(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert migrate.is_current(engine)
    from alembic import command

    command.downgrade(migrate.alembic_config(engine), "base")
    assert migrate.current_revision(engine) is None
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, of each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    ensure_postgres()
    name = f"acquis_migrate_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
        )
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


_AT_0008 = [
    "INSERT INTO establishment (id, slug, name, locale, created_at) VALUES (1, 'e', 'E', 'fr', :t)",
    "INSERT INTO learner (id, establishment_id, display_name, created_at) VALUES (1, 1, 'A', :t)",
    "INSERT INTO activity (id, establishment_id, source_id, name, created_at)"
    " VALUES (1, 1, 'http://a/1', '', :t)",
    "INSERT INTO programme (id, establishment_id, code, title, description, timezone, categories, axes,"
    " routes, grading, created_at) VALUES (1, 1, 'p', 'P', '', 'Europe/Paris', '[]', '[]', '[]', '{}', :t)",
    "INSERT INTO programme_action (id, programme_id, code, title, category, axis, min_points,"
    " max_points, mandatory, mandatory_periods, position)"
    " VALUES (1, 1, 'a', 'A', 'hard', 'school', 1, 1, false, '[]', 0)",
    "INSERT INTO action_tag (id, establishment_id, programme_id, action_id, activity_id, points, created_by,"
    " created_at, updated_at) VALUES (1, 1, 1, 1, 1, 1, 'T', :t, :t)",
]


def test_completions_get_their_dedupe_key_and_keep_what_refers_to_them(empty_database_url: str) -> None:
    """0009 rebuilds the completion table on SQLite: the points resting on completions survive it."""
    from alembic import command

    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine, "0008")
        hashes = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(25_000)]  # > one batch
        with engine.begin() as conn:
            for sql in _AT_0008:
                conn.execute(text(sql), {"t": "2026-01-01 00:00:00"})
            conn.execute(
                text(
                    "INSERT INTO completion (id, establishment_id, learner_id, activity_id, state,"
                    " occurred_at, received_at, source_id, content_hash)"
                    " VALUES (:id, 1, 1, 1, 'completed', :t, :t, :s, :h)"
                ),
                [
                    {
                        "id": i + 1,
                        "t": "2026-01-01 00:00:00",
                        "h": h,
                        "s": str(uuid.UUID(int=i)) if i % 2 else None,
                    }
                    for i, h in enumerate(hashes)
                ],
            )
            conn.execute(
                text(
                    "INSERT INTO earned_points (id, establishment_id, programme_id, learner_id, tag_id,"
                    " action_id, activity_id, completion_id, points, status, updated_at)"
                    " VALUES (1, 1, 1, 1, 1, 1, 1, 7, 1, 'counted', :t)"
                ),
                {"t": "2026-01-01 00:00:00"},
            )
        migrate.upgrade(engine)
        with engine.connect() as conn:
            keys = dict(conn.execute(text("SELECT content_hash, dedupe_key FROM completion")).all())
            assert keys == {h: dedupe_key(h) for h in hashes}
            assert conn.execute(text("SELECT completion_id FROM earned_points")).scalar_one() == 7
            if engine.dialect.name == "sqlite":
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        # The new keys refuse what the old ones did: the same content again, the same statement id.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO completion (establishment_id, learner_id, activity_id, state, occurred_at,"
                    " received_at, content_hash, dedupe_key) VALUES (1, 1, 1, 'passed', :t, :t, 'x', :k)"
                ),
                {"t": "2026-01-02 00:00:00", "k": dedupe_key(hashes[3])},
            )
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO completion (establishment_id, learner_id, activity_id, state, occurred_at,"
                    " received_at, source_id, content_hash, dedupe_key)"
                    " VALUES (1, 1, 1, 'passed', :t, :t, :s, 'x', 1)"
                ),
                {"t": "2026-01-02 00:00:00", "s": str(uuid.UUID(int=1))},
            )
        command.downgrade(migrate.alembic_config(engine), "0008")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM completion")).scalar_one() == len(hashes)
            assert conn.execute(text("SELECT completion_id FROM earned_points")).scalar_one() == 7
    finally:
        engine.dispose()
