"""WSGI entry point for scaled mode: `gunicorn 'acquis.web.wsgi:app'`.

Everything comes from the environment. Web processes never deliver: with ACQUIS_WORKER=celery
they wake Celery workers after each commit; with ACQUIS_WORKER=none, `acquis worker`
processes poll the outbox. Migrations are run once per release with `acquis db upgrade`.
"""

from __future__ import annotations

from flask import Flask

from acquis.core import runtime as runtime_module
from acquis.web.app import create_app


def build_app() -> Flask:
    rt = runtime_module.build()
    runtime_module.configure_logging(rt.settings)
    if rt.settings.worker == "celery":
        from acquis.queue.celery_app import Notifier, app_from_env

        rt.notifier = Notifier(app_from_env())
    return create_app(rt)


app = build_app()
