"""The Celery application of acquis: one `drain` task and a beat schedule that sweeps the outbox."""

from __future__ import annotations

import logging
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
    """What a web process calls after committing new outbox messages: a wake-up, never a must."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def __call__(self) -> None:
        try:
            self.app.send_task(DRAIN_TASK, retry=False)
        except Exception as exc:  # broker down: the beat sweeper delivers once it is back
            log.warning("broker unreachable (%s); the outbox keeps the work", type(exc).__name__)
