"""The Celery application of acquis: one `drain` task and a beat schedule that sweeps the outbox."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    worker_process_init,
    worker_process_shutdown,
)

from acquis.core import logs
from acquis.core import runtime as runtime_module
from acquis.core.delivery import Deliverer
from acquis.core.errors import ConfigurationError
from acquis.core.runtime import Runtime
from acquis.core.settings import Settings
from acquis.core.worker import worker_id

log = logging.getLogger("acquis.queue")

DRAIN_TASK = "acquis.drain"
SWEEP_SECONDS = 5.0
DRAIN_LIMIT = 200


def make_celery(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ConfigurationError(
            "ACQUIS_WORKER=celery needs ACQUIS_BROKER_URL (amqp://… for RabbitMQ, redis://… for Redis)"
        )
    app = Celery("acquis", broker=settings.broker_url)
    app.conf.update(
        task_acks_late=True,  # a worker killed mid-task leaves the task to another one
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=settings.queue_name,
        broker_connection_retry_on_startup=True,
        beat_schedule={"sweep-outbox": {"task": DRAIN_TASK, "schedule": SWEEP_SECONDS}},
        timezone="UTC",
    )
    return app


_runtime: Runtime | None = None


def _rt() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = runtime_module.build()
    return _runtime


def _fresh_runtime(**_: Any) -> None:
    """Each forked worker process opens its own database connections."""
    global _runtime
    _runtime = None


def _close_runtime(**_: Any) -> None:
    if _runtime is not None:
        _runtime.db.dispose()


def _prepare_logs(logger: logging.Logger, **_: Any) -> None:
    """Celery sets up its own handlers: make them mask secrets and carry the request ids too."""
    fmt = Settings.from_env().log_format
    for handler in logger.handlers:
        logs.prepare(handler, fmt)


after_setup_logger.connect(_prepare_logs, weak=False)
after_setup_task_logger.connect(_prepare_logs, weak=False)
worker_process_init.connect(_fresh_runtime, weak=False)
worker_process_shutdown.connect(_close_runtime, weak=False)


def drain(limit: int = DRAIN_LIMIT) -> int:
    """Deliver what is due, up to ``limit`` messages; returns how many were handled."""
    rt = _rt()
    deliverer = Deliverer.configured(rt.db, rt.host, worker_id("celery"), rt.settings.public_url)
    handled = 0
    while handled < limit:
        done = deliverer.run_once(min(50, limit - handled))
        if done == 0:
            break
        handled += done
    return handled


def register(app: Celery) -> Celery:
    app.task(name=DRAIN_TASK, ignore_result=True)(drain)
    return app


def app_from_env() -> Celery:
    return register(make_celery(Settings.from_env()))


class Notifier:
    """What a web process calls after committing new outbox messages: a wake-up, never a must.

    The message goes out from a thread of its own, so a request never waits on the broker: with
    the broker down, publishing takes about 6 s to fail on Redis and RabbitMQ alike, and every
    POST stalled that long (the xAPI p95 of the fault run was 6.1 s before, 0.3 s after). Wake-ups asked
    for while one is being sent are merged into the next one; the workers' sweep covers any
    that is lost.
    """

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def __call__(self) -> None:
        self._wanted.set()
        with self._lock:
            # Started on first use in the process that uses it (gunicorn forks after import).
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="acquis-notifier", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if not self.send():
                time.sleep(1.0)  # the broker is away: try again on the next wake-up after a pause

    def send(self) -> bool:
        try:
            self.app.send_task(DRAIN_TASK, retry=False)
            return True
        except Exception as exc:  # broker down: the beat sweeper delivers once it is back
            log.warning("broker unreachable (%s); the outbox keeps the work", type(exc).__name__)
            return False
