"""PyLTI1p3's launch data storage backed by the ``lti_launch_data`` table.

The login step (which issues state and nonce) and the launch step (which checks them) may be
served by different web processes, so nothing of a launch may live in process memory.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy import delete, select

from acquis.core.db import Database
from acquis.core.models import LtiLaunchData, utcnow

DEFAULT_LIFETIME = 86400


class DbLaunchDataStorage(LaunchDataStorage[Any]):
    # No session-id cookie: a launch is tied to the browser by the state cookie alone, and nonces
    # are 64 random hex characters, so one global key space is safe. One cookie fewer is one
    # fewer thing a browser blocking third-party cookies can break.
    _session_cookie_name = ""

    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db

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
        expires_at = utcnow() + timedelta(seconds=exp or DEFAULT_LIFETIME)
        with self._db.session() as session:
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
        full_key = self._prepare_key(key)
        with self._db.session() as session:
            row = session.get(LtiLaunchData, full_key)
            if row is None or row.expires_at <= utcnow():
                return None
            value = row.value
            session.expunge(row)
            result = session.execute(delete(LtiLaunchData).where(LtiLaunchData.key == full_key))
            if getattr(result, "rowcount", 0) != 1:
                return None
            return value

    def purge_expired(self) -> int:
        with self._db.session() as session:
            result = session.execute(delete(LtiLaunchData).where(LtiLaunchData.expires_at <= utcnow()))
            return int(getattr(result, "rowcount", 0) or 0)

    def keys(self) -> list[str]:
        """Every stored key (tests check that a refused launch stored nothing)."""
        with self._db.session() as session:
            return list(session.scalars(select(LtiLaunchData.key)))
