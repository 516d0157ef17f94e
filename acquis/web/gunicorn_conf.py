"""gunicorn settings for acquis: ``gunicorn -c python:acquis.web.gunicorn_conf 'acquis.web.wsgi:app'``.

With ``PROMETHEUS_MULTIPROC_DIR`` set (an empty folder, emptied before each start), every
gunicorn worker writes its metrics there and ``/metrics`` adds them up; a worker that exits is
marked dead so its gauges stop counting. Other gunicorn settings come from the command line or
``GUNICORN_CMD_ARGS`` as usual.
"""

from __future__ import annotations

import os
from typing import Any


def child_exit(_server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
