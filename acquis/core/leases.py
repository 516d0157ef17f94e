"""A worker's leases on outbox messages: fenced renewal, and a heartbeat while a hook runs.

A claim leases a whole batch of messages at once, but the worker calls their hooks one after
the other, and one call (an emitter's reconciliation, then its issue request, each with its own
HTTP timeout) can outlast the lease. Without renewal a slow but live worker loses messages it
still means to deliver: another worker reclaims one, reconciles while the first worker's request
has not reached the remote side yet, finds nothing and issues again, and the first worker then
issues too. Hence two rules, both fenced by the holder's id so that a worker that lost a
message can neither renew nor record it:

- a message is taken again just before its hook is called, and skipped if another worker holds
  it by then; a lease with more than half its length left needs no round trip (nobody can have
  claimed it, unless the workers' clocks drift apart by half a lease);
- while the hook runs, a heartbeat renews the lease every third of its length, so only a dead
  (or frozen) worker's lease runs out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta

from sqlalchemy import update

from acquis.core.db import Database
from acquis.core.models import OutboxMessage

log = logging.getLogger("acquis.delivery")


class Leases:
    """One worker's leases (one per deliverer): what it set is remembered to spare round trips."""

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
        self._until: dict[int, datetime] = {}  # what this worker last set, by message id

    def claimed(self, ids: Sequence[int], until: datetime) -> None:
        self._until.update(dict.fromkeys(ids, until))

    def released(self, message_id: int) -> None:
        self._until.pop(message_id, None)

    def take(self, ids: Sequence[int]) -> list[int]:
        """Those of ``ids`` this worker still holds, their lease renewed if half of it is gone."""
        now = self.clock()
        fresh = [i for i in ids if i in self._until and self._until[i] - now > self.lease / 2]
        return sorted(fresh + self.renew([i for i in ids if i not in fresh]))

    def renew(self, ids: Sequence[int]) -> list[int]:
        """Extends this worker's lease on ``ids``; returns those it still holds (sorted)."""
        if not ids:
            return []
        until = self.clock() + self.lease
        with self.db.session() as session:
            held = list(
                session.scalars(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id.in_(ids),
                        OutboxMessage.locked_by == self.worker_id,
                        OutboxMessage.status == "pending",
                    )
                    .values(locked_until=until)
                    .returning(OutboxMessage.id)
                    .execution_options(synchronize_session=False)
                )
            )
        for i in ids:
            self._until.pop(i, None)
        self.claimed(held, until)
        return sorted(held)

    @contextmanager
    def kept(
        self, ids: Sequence[int] | Callable[[], Sequence[int]], lock: threading.Lock | None = None
    ) -> Iterator[None]:
        """Renews the lease on ``ids`` in the background until the block ends; a callable gives
        the ids anew at each beat (messages whose hook has run and whose outcome waits), and
        ``lock`` keeps a beat apart from the recording of those outcomes: both lock several
        of the same rows, in no common order, and would otherwise deadlock on PostgreSQL."""
        stop = threading.Event()
        interval = self.heartbeat.total_seconds()

        def beat() -> None:
            if callable(ids):
                while not stop.wait(interval):
                    try:
                        with lock or nullcontext():
                            self.renew(list(ids()))
                    except Exception as exc:  # the database is away: the next beat tries again
                        log.warning("outbox: lease renewal failed: %s", type(exc).__name__)
                return
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
