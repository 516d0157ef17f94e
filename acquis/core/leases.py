"""A worker's leases on outbox messages: fenced renewal, and a heartbeat while a hook runs.

A claim leases a whole batch of messages at once, but the worker calls their hooks one after
the other, and one call (an emitter's reconciliation, then its issue request, each with its own
HTTP timeout) can outlast the lease. Without renewal a slow but live worker loses messages it
still means to deliver: another worker reclaims one, reconciles while the first worker's request
has not reached the remote side yet, finds nothing and issues again, and the first worker then
issues too. Hence two rules, both fenced by the holder's id so that a worker that lost a
message can neither renew nor record it:

- a message is taken again (its lease renewed) just before its hook is called, and skipped if
  another worker holds it by then;
- while the hook runs, a heartbeat renews the lease every third of its length, so only a dead
  (or frozen) worker's lease runs out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import update

from acquis.core.db import Database
from acquis.core.models import OutboxMessage

log = logging.getLogger("acquis.delivery")


class Leases:
    def __init__(
        self,
        db: Database,
        worker_id: str,
        lease: timedelta,
        clock: Callable[[], datetime],
        heartbeat: timedelta | None = None,
    ) -> None:
        self.db = db
        self.worker_id = worker_id
        self.lease = lease
        self.clock = clock
        self.heartbeat = heartbeat if heartbeat is not None else lease / 3

    def renew(self, ids: Sequence[int]) -> list[int]:
        """Extends this worker's lease on ``ids``; returns those it still holds (sorted)."""
        if not ids:
            return []
        with self.db.session() as session:
            held = session.scalars(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.locked_by == self.worker_id,
                    OutboxMessage.status == "pending",
                )
                .values(locked_until=self.clock() + self.lease)
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
            return sorted(held)

    @contextmanager
    def kept(self, ids: Sequence[int]) -> Iterator[None]:
        """Renews the lease on ``ids`` in the background until the block ends."""
        stop = threading.Event()
        interval = self.heartbeat.total_seconds()

        def beat() -> None:
            wanted = list(ids)
            while wanted and not stop.wait(interval):
                try:
                    held = self.renew(wanted)
                except Exception as exc:  # the database is away: the next beat tries again
                    log.warning("outbox %s: lease renewal failed: %s", wanted, type(exc).__name__)
                    continue
                if len(held) < len(wanted):
                    lost = sorted(set(wanted) - set(held))
                    log.warning("outbox %s: lease lost during the hook call", lost)
                wanted = held

        thread = threading.Thread(target=beat, name="acquis-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
