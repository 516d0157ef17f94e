"""The runtime of a CLI command: built on first use, closed when the command ends."""

from __future__ import annotations

import click

from acquis.core import migrate, runtime
from acquis.core.errors import ConfigurationError
from acquis.core.runtime import Runtime


def get(upgrade: bool = False) -> Runtime:
    ctx = click.get_current_context()
    existing = ctx.meta.get("acquis.runtime")
    if existing is None:
        existing = runtime.build(upgrade=upgrade)
        ctx.meta["acquis.runtime"] = existing
        ctx.call_on_close(existing.close)
        engine = existing.db.engine
        if not upgrade and migrate.current_revision(engine) is None:
            migrate.upgrade(engine)  # first use of an empty database: create it
        elif not upgrade and not migrate.is_current(engine):
            raise ConfigurationError("the database is not up to date: run `acquis db upgrade` first")
    return existing
