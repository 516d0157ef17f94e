"""Alembic environment: the engine comes from acquis (see acquis.core.migrate), never from an ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

from acquis.core.models import Base

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:
    from acquis.core.db import make_engine
    from acquis.core.settings import Settings

    engine = make_engine(Settings.from_env().database_url)

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch migration rebuilds a table and drops the old one; with foreign keys on, that
        # DROP deletes every row first, and ON DELETE CASCADE empties the tables referring to it.
        # The pragma is ignored inside a transaction, so it is set on the driver's connection
        # before ours begins; the references are checked again before committing.
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise RuntimeError(f"the migration would leave broken references: {broken[:5]}")
        connection.commit()
    finally:
        if sqlite:
            driver.execute("PRAGMA foreign_keys=ON")
