"""Migrations and models agree, and the schema can be built from nothing and torn down."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from acquis.core import migrate
from acquis.core.db import make_engine
from acquis.core.models import Base


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
