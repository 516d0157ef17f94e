"""The database every benchmark starts from, so that runs compare: a SQLite file in a new
temporary folder, or the PostgreSQL database named by ``--database-url`` emptied first."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from sqlalchemy import text

from acquis.core import crypto, migrate
from acquis.core.db import Database
from acquis.core.settings import Settings


def fresh_database(database_url: str | None, prefix: str = "acquis-bench-") -> tuple[Settings, Database]:
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    # A 200,000-event run leaves several hundred MB of SQLite files: gone when the benchmark ends.
    # (Processes forked by a benchmark leave through os._exit, without running this.)
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    url = database_url or f"sqlite:///{tmp / 'bench.db'}"
    settings = Settings.from_env({"ACQUIS_INSTANCE_PATH": str(tmp), "ACQUIS_DATABASE_URL": url})
    crypto.configure((crypto.generate_key(),))
    db = Database(settings)
    if not settings.is_sqlite:
        with db.engine.begin() as conn:  # a clean schema for a repeatable run
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(db.engine)
    return settings, db
