"""The delivery loop: a thread inside `acquis serve` (embedded) or its own process (`acquis worker`)."""

from __future__ import annotations

import logging
import os
import socket
import threading

from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.plugins import PluginHost

log = logging.getLogger("acquis.worker")


def worker_id(prefix: str = "worker") -> str:
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}"


class Worker:
    """Drains the outbox until stopped; ``wake()`` lets a request that just enqueued skip the wait."""

    def __init__(
        self, db: Database, host: PluginHost, public_url: str, poll_interval: float = 1.0, batch: int = 50
    ) -> None:
        self.deliverer = Deliverer.configured(db, host, worker_id(), public_url)
        self.poll_interval = poll_interval
        self.batch = batch
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        log.info("worker %s started", self.deliverer.worker_id)
        while not self._stop.is_set():
            try:
                done = self.deliverer.run_once(self.batch)
            except Exception:
                log.exception("worker loop error; retrying after the poll interval")
                done = 0
            if done == 0:
                self._wake.wait(self.poll_interval)
                self._wake.clear()
        log.info("worker %s stopped", self.deliverer.worker_id)

    def start_thread(self) -> None:
        self._thread = threading.Thread(target=self.run, name="acquis-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
