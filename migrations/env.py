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
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
