"""Configuration read from the environment, so embedded and scaled mode run the same code."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from acquis.core.errors import ConfigurationError

ENV_PREFIX = "ACQUIS_"


def default_instance_path() -> Path:
    """A per-user folder, following XDG so that packaged installs do not write into site-packages."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "acquis"


@dataclass(frozen=True)
class Settings:
    instance_path: Path
    database_url: str
    public_url: str
    # Comma-separated Fernet keys, newest first; read from the environment or the instance folder,
    # never from the database, so a database dump alone reveals no secret.
    secret_keys: tuple[str, ...] = field(repr=False, default=())
    worker: str = "inprocess"  # "inprocess", "none" (deliveries run by `acquis worker`) or "celery"
    broker_url: str | None = field(repr=False, default=None)  # scaled mode: amqp://… or redis://…
    queue_name: str = "acquis"  # the Celery queue; one per deployment sharing a broker
    # How long a worker holds a message before another may take it (must exceed adapter timeouts).
    lease_seconds: int = 120
    # Awards of one badge due within the window go out in one call, up to the batch size.
    emit_batch_window_seconds: float = 2.0
    emit_batch_size: int = 100
    # Reverse proxies in front of the web processes whose X-Forwarded-* headers are trusted.
    trusted_proxies: int = 0
    max_body_bytes: int = 5 * 1024 * 1024
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object per line (time, level, logger, message, ids)
    # Statements per minute each establishment's endpoint accepts (0: no limit); an
    # establishment's own figure (`acquis establishment rate-limit`) overrides it.
    ingest_rate_limit: int = 60_000
    # Bearer token that /metrics asks for; without one, only loopback clients may read it.
    metrics_token: str | None = field(repr=False, default=None)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        instance = Path(env.get(f"{ENV_PREFIX}INSTANCE_PATH") or default_instance_path())
        instance = instance.expanduser().resolve()
        db_url = env.get(f"{ENV_PREFIX}DATABASE_URL") or f"sqlite:///{instance / 'acquis.db'}"
        if db_url.startswith("postgres://"):  # the form Heroku-style platforms hand out
            db_url = "postgresql+psycopg://" + db_url[len("postgres://") :]
        elif db_url.startswith("postgresql://"):
            db_url = "postgresql+psycopg://" + db_url[len("postgresql://") :]
        keys = tuple(k.strip() for k in env.get(f"{ENV_PREFIX}SECRET_KEYS", "").split(",") if k.strip())
        worker = env.get(f"{ENV_PREFIX}WORKER", "inprocess")
        if worker not in {"inprocess", "none", "celery"}:
            raise ConfigurationError(f"{ENV_PREFIX}WORKER={worker!r}: use 'inprocess', 'none' or 'celery'")
        try:
            max_body = int(env.get(f"{ENV_PREFIX}MAX_BODY_BYTES", str(5 * 1024 * 1024)))
        except ValueError as exc:
            raise ConfigurationError(f"{ENV_PREFIX}MAX_BODY_BYTES must be a number of bytes") from exc
        if max_body <= 0:  # Flask would then refuse every request body with a 413
            raise ConfigurationError(f"{ENV_PREFIX}MAX_BODY_BYTES must be a positive number of bytes")
        try:
            lease = int(env.get(f"{ENV_PREFIX}DELIVERY_LEASE_SECONDS", "120"))
        except ValueError as exc:
            raise ConfigurationError(
                f"{ENV_PREFIX}DELIVERY_LEASE_SECONDS must be a number of seconds"
            ) from exc
        if lease < 1:
            raise ConfigurationError(f"{ENV_PREFIX}DELIVERY_LEASE_SECONDS must be at least 1")
        try:
            window = float(env.get(f"{ENV_PREFIX}EMIT_BATCH_WINDOW_SECONDS", "2"))
            batch = int(env.get(f"{ENV_PREFIX}EMIT_BATCH_SIZE", "100"))
        except ValueError as exc:
            raise ConfigurationError(
                f"{ENV_PREFIX}EMIT_BATCH_WINDOW_SECONDS and {ENV_PREFIX}EMIT_BATCH_SIZE must be numbers"
            ) from exc
        if not 0 <= window <= 3600 or not 1 <= batch <= 10_000:
            raise ConfigurationError(
                f"{ENV_PREFIX}EMIT_BATCH_WINDOW_SECONDS takes 0 to 3600, "
                f"{ENV_PREFIX}EMIT_BATCH_SIZE 1 to 10000"
            )
        try:
            proxies = int(env.get(f"{ENV_PREFIX}TRUSTED_PROXIES", "0") or 0)
        except ValueError as exc:
            raise ConfigurationError(
                f"{ENV_PREFIX}TRUSTED_PROXIES must be a number of proxies (0 for none)"
            ) from exc
        if not 0 <= proxies <= 5:
            raise ConfigurationError(f"{ENV_PREFIX}TRUSTED_PROXIES takes 0 to 5")
        log_format = env.get(f"{ENV_PREFIX}LOG_FORMAT", "text").lower()
        if log_format not in {"text", "json"}:
            raise ConfigurationError(f"{ENV_PREFIX}LOG_FORMAT={log_format!r}: use 'text' or 'json'")
        try:
            rate = int(env.get(f"{ENV_PREFIX}INGEST_RATE_LIMIT", "60000"))
        except ValueError as exc:
            raise ConfigurationError(
                f"{ENV_PREFIX}INGEST_RATE_LIMIT must be a number of statements per minute (0 for none)"
            ) from exc
        if rate < 0:
            raise ConfigurationError(f"{ENV_PREFIX}INGEST_RATE_LIMIT must be 0 (no limit) or more")
        metrics_token = env.get(f"{ENV_PREFIX}METRICS_TOKEN") or None
        if metrics_token is not None and len(metrics_token) < 16:
            raise ConfigurationError(f"{ENV_PREFIX}METRICS_TOKEN must be at least 16 characters")
        public_url = env.get(f"{ENV_PREFIX}PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
        if not public_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{ENV_PREFIX}PUBLIC_URL must start with http:// or https://")
        return cls(
            instance_path=instance,
            database_url=db_url,
            public_url=public_url,
            secret_keys=keys,
            worker=worker,
            max_body_bytes=max_body,
            log_level=env.get(f"{ENV_PREFIX}LOG_LEVEL", "INFO").upper(),
            broker_url=env.get(f"{ENV_PREFIX}BROKER_URL") or None,
            queue_name=env.get(f"{ENV_PREFIX}QUEUE", "acquis"),
            lease_seconds=lease,
            emit_batch_window_seconds=window,
            emit_batch_size=batch,
            trusted_proxies=proxies,
            log_format=log_format,
            ingest_rate_limit=rate,
            metrics_token=metrics_token,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
