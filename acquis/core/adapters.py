"""Per-establishment adapter configuration: enable, disable, set (validated), check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import establishments
from acquis.core.errors import InvalidInput
from acquis.core.events import AdapterContext, AdapterSpec, CheckResult, SettingField
from acquis.core.models import AdapterConfig, Establishment
from acquis.core.plugins import PluginHost
from acquis.core.sql import by_driver, driver_rows

SECRET_MASK = "********"  # noqa: S105 - what is shown instead of a secret


def _config(session: Session, est: Establishment, adapter: str) -> AdapterConfig:
    cfg = session.scalar(
        select(AdapterConfig).where(
            AdapterConfig.establishment_id == est.id, AdapterConfig.adapter == adapter
        )
    )
    if cfg is None:
        cfg = AdapterConfig(establishment_id=est.id, adapter=adapter, enabled=False, settings={})
        session.add(cfg)
    return cfg


_ENABLED_SQL = by_driver("SELECT adapter FROM adapter_config WHERE establishment_id = :e AND enabled")


def enabled_names(session: Session, establishment_id: int) -> frozenset[str]:
    # Straight to the driver: ingest asks on every batch, and SQLAlchemy's handling of the
    # statement cost several times its execution.
    session.flush()
    sql = _ENABLED_SQL[session.get_bind().dialect.name]
    return frozenset(adapter for (adapter,) in driver_rows(session, sql, {"e": establishment_id}))


def set_enabled(session: Session, host: PluginHost, est: Establishment, adapter: str, on: bool) -> None:
    spec = host.spec(adapter)
    cfg = _config(session, est, adapter)
    if on:
        missing = [f.name for f in spec.settings if f.required and _value(cfg, f) in (None, "")]
        if missing:
            raise InvalidInput(
                f"set {', '.join(missing)} first: acquis adapter set {est.slug} {adapter} "
                + " ".join(f"{m}=…" for m in missing)
            )
    cfg.enabled = on


def _value(cfg: AdapterConfig, f: SettingField) -> Any:
    source = (cfg.secrets or {}) if f.secret else (cfg.settings or {})
    return source.get(f.name, f.default)


def coerce(f: SettingField, raw: str) -> Any:
    """Turn a text value (CLI, form) into the field's type, or say what is wrong with it."""
    if f.kind == "boolean":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on", "oui"):
            return True
        if lowered in ("0", "false", "no", "off", "non"):
            return False
        raise InvalidInput("expected true or false", field=f.name)
    if f.kind == "integer":
        try:
            return int(raw)
        except ValueError:
            raise InvalidInput("expected a whole number", field=f.name) from None
    if f.kind == "url":
        parsed = urlparse(raw)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput("expected an http(s) URL, e.g. https://moodle.example.fr", field=f.name)
        return raw.rstrip("/")
    if f.kind == "choice" and raw not in f.choices:
        raise InvalidInput(f"expected one of {', '.join(f.choices)}", field=f.name)
    if f.kind == "pem" and "-----BEGIN" not in raw:
        raise InvalidInput("expected a PEM block (-----BEGIN …)", field=f.name)
    return raw


def update_settings(
    session: Session, host: PluginHost, est: Establishment, adapter: str, values: Mapping[str, str]
) -> None:
    """Validate every value first, then write: a bad value changes nothing."""
    spec = host.spec(adapter)
    coerced: dict[str, tuple[SettingField, Any]] = {}
    for name, raw in values.items():
        f = spec.field(name)
        if f is None:
            known = ", ".join(x.name for x in spec.settings) or "none"
            raise InvalidInput(f"{adapter} has no setting {name!r} (settings: {known})")
        coerced[name] = (f, coerce(f, raw))
    cfg = _config(session, est, adapter)
    settings = dict(cfg.settings or {})
    secrets = dict(cfg.secrets or {})
    for name, (f, value) in coerced.items():
        (secrets if f.secret else settings)[name] = value
    cfg.settings = settings
    cfg.secrets = secrets or None


def shown_settings(cfg: AdapterConfig, spec: AdapterSpec) -> dict[str, Any]:
    """Settings as any page, API or listing may show them: secrets only say whether they are set."""
    shown: dict[str, Any] = {}
    for f in spec.settings:
        if f.secret:
            shown[f.name] = SECRET_MASK if (cfg.secrets or {}).get(f.name) else None
        else:
            shown[f.name] = (cfg.settings or {}).get(f.name, f.default)
    return shown


def context(
    session: Session,
    est: Establishment,
    adapter: str,
    public_url: str,
    delivery_id: str | None = None,
    request_session: Session | None = None,
) -> AdapterContext:
    cfg = session.scalar(
        select(AdapterConfig).where(
            AdapterConfig.establishment_id == est.id, AdapterConfig.adapter == adapter
        )
    )
    merged: dict[str, Any] = {}
    if cfg is not None:
        merged.update(cfg.settings or {})
        merged.update(cfg.secrets or {})
    return AdapterContext(
        establishment=establishments.ref(est),
        settings=merged,
        public_url=public_url,
        delivery_id=delivery_id,
        session=request_session,
    )


def check(
    session: Session, host: PluginHost, est: Establishment, adapter: str, public_url: str
) -> CheckResult:
    spec = host.spec(adapter)
    if spec.check is None:
        return CheckResult(ok=True, message=f"{spec.title} needs no connection")
    try:
        return spec.check(context(session, est, adapter, public_url))
    except Exception as exc:  # a check must report, never crash the console
        return CheckResult(ok=False, message=f"{type(exc).__name__}: {exc}")
