"""One API client per establishment and settings, for adapters whose clients hold a session.

Tokens (OBF, Pégase) and session cookies (Karuta) survive between deliveries that way; when an
establishment's settings change, its old client is closed and replaced. Shared by the threads
of a process, hence the lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

C = TypeVar("C", bound=Hashable)  # the client's settings, compared for equality
K = TypeVar("K")  # the client


class ClientCache(Generic[C, K]):
    def __init__(self, factory: Callable[[C], K]) -> None:
        self.factory = factory
        self._clients: dict[tuple[int, C], K] = {}
        self._lock = threading.Lock()

    def get(self, establishment_id: int, config: C) -> K:
        key = (establishment_id, config)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                # Settings changed: the old client (its session, its certificate files) goes.
                for old_key in [k for k in self._clients if k[0] == establishment_id]:
                    _close(self._clients.pop(old_key))
                client = self._clients[key] = self.factory(config)
            return client

    def clear(self) -> None:
        with self._lock:
            for client in self._clients.values():
                _close(client)
            self._clients.clear()


def _close(client: object) -> None:
    close = getattr(client, "close", None)
    if callable(close):
        close()
