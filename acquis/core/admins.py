"""Local administrator accounts: creation, password check, and the throttle on failures.

Passwords are hashed with werkzeug's scrypt (salted, memory-hard). After ``MAX_FAILURES``
wrong passwords in a row an account is locked for ``LOCK_SECONDS``, doubling with each further
failure: guessing gets slow while the real admin, who knows the password, waits minutes at most.
The lock lives in the database so that every web process enforces the same one.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from acquis.core.errors import Conflict, InvalidInput
from acquis.core.models import AdminUser, utcnow

MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 3600
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked when the email is unknown, so that an unknown account costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("acquis-no-such-admin", method="scrypt")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def add_user(session: Session, email: str, password: str) -> AdminUser:
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise InvalidInput("not an email address", field="email")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"use at least {MIN_PASSWORD} characters", field="password")
    if session.scalar(select(AdminUser.id).where(AdminUser.email == email)) is not None:
        raise Conflict(f"administrator {email} already exists")
    user = AdminUser(email=email, password_hash=hash_password(password), failed_logins=0)
    session.add(user)
    session.flush()
    return user


class Locked(Exception):
    """Too many failures: the account accepts no password until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until


def authenticate(
    session: Session, email: str, password: str, now: datetime | None = None
) -> AdminUser | None:
    """The account when the password is right; None when not; ``Locked`` while throttled.

    The caller commits the session either way: a failure must be counted even though the
    login is refused.
    """
    now = now or utcnow()
    user = session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if user.locked_until is not None and user.locked_until > now:
        raise Locked(user.locked_until)
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            extra = user.failed_logins - MAX_FAILURES
            seconds = min(LOCK_SECONDS * 2**extra, MAX_LOCK_SECONDS)
            user.locked_until = now + timedelta(seconds=seconds)
        return None
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user
