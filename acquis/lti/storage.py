"""PyLTI1p3's launch data storage backed by the ``lti_launch_data`` table.

The login step (which issues state and nonce) and the launch step (which checks them) may be
served by different web processes, so nothing of a launch may live in process memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from acquis.core.db import Database
from acquis.core.models import LtiLaunchData, utcnow

DEFAULT_LIFETIME = 86400
PURGE_EVERY = 60.0  # seconds between two purges of expired keys by one process

_purge_lock = threading.Lock()
_last_purge = 0.0


class DbLaunchDataStorage(LaunchDataStorage[Any]):
    # No session-id cookie: a launch is tied to the browser by the state cookie alone, and nonces
    # are 64 random hex characters, so one global key space is safe. One cookie fewer is one
    # fewer thing a browser blocking third-party cookies can break.
    _session_cookie_name = ""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db
        self._pending: dict[str, tuple[Any, int | None]] | None = None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect the writes of a block and make them in one transaction at its end.

        A login writes three keys (PyLTI1p3's nonce and state parameters, acquis' login
        record): one commit instead of three is most of a login's database time.
        """
        self._pending = {}
        try:
            yield
            pending, self._pending = self._pending, None
            with self._db.session() as session:
                full = {self._prepare_key(k): v for k, v in pending.items()}
                existing = {
                    row.key: row
                    for row in session.scalars(select(LtiLaunchData).where(LtiLaunchData.key.in_(full)))
                }
                now = utcnow()
                for key, (value, exp) in full.items():
                    expires_at = now + timedelta(seconds=exp or DEFAULT_LIFETIME)
                    if (row := existing.get(key)) is not None:
                        row.value, row.expires_at = value, expires_at
                    else:
                        session.add(LtiLaunchData(key=key, value=value, expires_at=expires_at))
        finally:
            self._pending = None

    def get_session_cookie_name(self) -> str | None:
        return None

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        with self._db.session() as session:
            row = session.get(LtiLaunchData, self._prepare_key(key))
            if row is None or row.expires_at <= utcnow():
                return None
            return row.value

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        if self._pending is not None:
            self._pending[key] = (value, exp)
            return
        with self._db.session() as session:
            self._write(session, key, value, exp)

    def _write(self, session: Session, key: str, value: Any, exp: int | None) -> None:
        expires_at = utcnow() + timedelta(seconds=exp or DEFAULT_LIFETIME)
        row = session.get(LtiLaunchData, self._prepare_key(key))
        if row is None:
            session.add(LtiLaunchData(key=self._prepare_key(key), value=value, expires_at=expires_at))
        else:
            row.value = value
            row.expires_at = expires_at

    def check_value(self, key: str) -> bool:
        return self.get_value(key) is not None

    def take(self, key: str) -> Any:
        """Delete a key and return its value, or None if another request took it first.

        The DELETE's row count decides, so two processes replaying the same launch at the same
        moment cannot both succeed.
        """
        with self._db.session() as session:
            return self._take(session, key)

    def _take(self, session: Session, key: str) -> Any:
        full_key = self._prepare_key(key)
        row = session.get(LtiLaunchData, full_key)
        if row is None or row.expires_at <= utcnow():
            return None
        value = row.value
        session.expunge(row)
        result = session.execute(delete(LtiLaunchData).where(LtiLaunchData.key == full_key))
        if getattr(result, "rowcount", 0) != 1:
            return None
        return value

    def take_all(
        self,
        keys: Sequence[str],
        accept: Callable[[list[Any]], bool],
        then: Callable[[Session], None] | None = None,
    ) -> list[Any] | None:
        """Take every key in one transaction, or none: None if one is missing, was taken by a
        concurrent request, or ``accept`` refuses the values (then nothing is deleted).
        ``then`` writes what goes with a successful take, in the same transaction."""
        full = [self._prepare_key(k) for k in keys]
        with self._db.session() as session:
            # One DELETE … RETURNING: the rows this transaction deleted are the ones it owns.
            rows = session.execute(
                delete(LtiLaunchData)
                .where(LtiLaunchData.key.in_(full))
                .returning(LtiLaunchData.key, LtiLaunchData.value, LtiLaunchData.expires_at)
            ).all()
            now = utcnow()
            found = {key: value for key, value, expires_at in rows if expires_at > now}
            values = [found.get(k) for k in full]
            if any(v is None for v in values) or not accept(values):
                session.rollback()
                return None
            if then is not None:
                then(session)
            return values

    def purge_expired(self, every: float = PURGE_EVERY) -> int:
        """Delete expired keys, at most once per ``every`` seconds per process (reads ignore
        expired keys anyway, so the purge only keeps the table small)."""
        global _last_purge
        with _purge_lock:
            now = time.monotonic()
            if now - _last_purge < every:
                return 0
            _last_purge = now
        with self._db.session() as session:
            result = session.execute(delete(LtiLaunchData).where(LtiLaunchData.expires_at <= utcnow()))
            return int(getattr(result, "rowcount", 0) or 0)

    def keys(self) -> list[str]:
        """Every stored key (tests check that a refused launch stored nothing)."""
        with self._db.session() as session:
            return list(session.scalars(select(LtiLaunchData.key)))
