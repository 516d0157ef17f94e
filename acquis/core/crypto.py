"""Encryption of secrets at rest.

Secrets (adapter tokens, client secrets, private keys) are stored encrypted with Fernet
(AES-128-CBC + HMAC-SHA256). The keys live outside the database: in ``ACQUIS_SECRET_KEYS``
(comma-separated, newest first, so keys can be rotated with MultiFernet) or, in embedded mode,
in ``<instance>/secret.key`` created on first start with mode 0600.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from acquis.core.errors import ConfigurationError
from acquis.core.settings import Settings

_lock = threading.Lock()
_keyring: MultiFernet | None = None
_keys: tuple[str, ...] = ()

KEY_FILE = "secret.key"


def load_keys(settings: Settings, create: bool = True) -> tuple[str, ...]:
    """Keys from the environment first; otherwise the instance key file, created if asked."""
    if settings.secret_keys:
        return settings.secret_keys
    path = settings.instance_path / KEY_FILE
    if not path.exists():
        if not create:
            raise ConfigurationError(
                f"no encryption key: set ACQUIS_SECRET_KEYS or create {path} with `acquis db upgrade`"
            )
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        # Written whole to a private temporary file, then linked into place: two processes
        # starting at once (web and worker) never read a half-written key, and only one key wins.
        fd, tmp_name = tempfile.mkstemp(dir=settings.instance_path, prefix=f".{KEY_FILE}.")  # mode 0600
        tmp = Path(tmp_name)
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    return tuple(k.strip() for k in path.read_text().split() if k.strip())


def configure(keys: tuple[str, ...]) -> None:
    global _keyring, _keys
    try:
        fernets = [Fernet(k.encode()) for k in keys]
    except ValueError as exc:
        raise ConfigurationError(
            "an encryption key is not a valid Fernet key (32 url-safe base64 bytes)"
        ) from exc
    if not fernets:
        raise ConfigurationError("at least one encryption key is needed")
    with _lock:
        _keyring = MultiFernet(fernets)
        _keys = tuple(keys)


def configured_keys() -> tuple[str, ...]:
    """The keys this process was configured with, newest first: what signs cookies and codes
    derives from them, without reading the key file again on every request."""
    if not _keys:
        raise ConfigurationError("encryption keys not configured (call acquis.core.crypto.configure)")
    return _keys


def configure_from_settings(settings: Settings) -> None:
    configure(load_keys(settings))


def _ring() -> MultiFernet:
    if _keyring is None:
        raise ConfigurationError("encryption keys not configured (call acquis.core.crypto.configure)")
    return _keyring


def encrypt(plaintext: str) -> str:
    return _ring().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _ring().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ConfigurationError(
            "a stored secret cannot be decrypted with the configured keys (was a key removed?)"
        ) from exc


class EncryptedJSON(TypeDecorator[dict[str, Any]]):
    """A JSON object stored as one Fernet token, so nothing of it is readable in the database."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: dict[str, Any] | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return encrypt(json.dumps(value, sort_keys=True))

    def process_result_value(self, value: str | None, dialect: Dialect) -> dict[str, Any] | None:
        if value is None:
            return None
        loaded: dict[str, Any] = json.loads(decrypt(value))
        return loaded


def generate_key() -> str:
    return Fernet.generate_key().decode()


def key_file(settings: Settings) -> Path:
    return settings.instance_path / KEY_FILE
