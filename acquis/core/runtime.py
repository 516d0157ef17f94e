"""Everything a process needs, built once: settings, database, plugins and (maybe) a worker.

The web app keeps it in ``app.extensions["acquis"]``; plugins that serve pages read it from
there, so no module-level global holds a database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from acquis.core import crypto, logs, migrate
from acquis.core.db import Database
from acquis.core.plugins import PluginHost
from acquis.core.settings import Settings
from acquis.core.worker import Worker

EXTENSION_KEY = "acquis"


def configure_logging(settings: Settings) -> None:
    """Logs for long-running processes (serve, worker); CLI one-shots keep WARNING and above."""
    logs.install(settings.log_level, settings.log_format)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    host: PluginHost
    worker: Worker | None = field(default=None)
    # Scaled mode: wakes Celery workers (set by the web entry point when ACQUIS_WORKER=celery).
    notifier: Callable[[], None] | None = field(default=None)

    def notify(self) -> None:
        """Something was enqueued: let a worker look now rather than at its next poll or sweep."""
        if self.worker is not None:
            self.worker.wake()
        if self.notifier is not None:
            self.notifier()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.db.dispose()


def build(
    settings: Settings | None = None,
    host: PluginHost | None = None,
    upgrade: bool = False,
) -> Runtime:
    settings = settings or Settings.from_env()
    crypto.configure(crypto.load_keys(settings, create=True))
    db = Database(settings)
    if upgrade:
        migrate.upgrade(db.engine)
    return Runtime(settings=settings, db=db, host=host or PluginHost())
