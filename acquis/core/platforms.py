"""LTI 1.3 platforms registered by hand (the CLI and the admin console share these)."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.errors import Conflict, InvalidInput
from acquis.core.models import Establishment, LtiDeployment, LtiPlatform


def _url(value: str, field: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput("expected an http(s) URL", field=field)
    return value


def add_manual(
    session: Session,
    est: Establishment,
    issuer: str,
    client_id: str,
    deployment_ids: Sequence[str],
    auth_login_url: str,
    token_url: str,
    jwks_url: str,
) -> LtiPlatform:
    """Validate everything first, then add the platform with its deployments."""
    _url(issuer, "issuer")
    for value, field in (
        (auth_login_url, "auth-login-url"),
        (token_url, "token-url"),
        (jwks_url, "jwks-url"),
    ):
        _url(value, field)
    if not client_id.strip():
        raise InvalidInput("must not be empty", field="client-id")
    deployment_ids = [d.strip() for d in deployment_ids if d.strip()]
    if not deployment_ids:
        raise InvalidInput("give at least one deployment id", field="deployment-id")
    if len(set(deployment_ids)) != len(deployment_ids):
        raise InvalidInput("a deployment id is given twice", field="deployment-id")
    taken = session.scalar(
        select(LtiPlatform.id).where(LtiPlatform.issuer == issuer, LtiPlatform.client_id == client_id)
    )
    if taken is not None:
        raise Conflict(f"platform {issuer} with client id {client_id} is already registered")
    platform = LtiPlatform(
        establishment_id=est.id,
        issuer=issuer,
        client_id=client_id,
        auth_login_url=auth_login_url,
        auth_token_url=token_url,
        jwks_url=jwks_url,
        deployments=[LtiDeployment(deployment_id=d) for d in deployment_ids],
    )
    session.add(platform)
    session.flush()
    return platform


def listing(session: Session, establishment_id: int | None = None) -> list[tuple[LtiPlatform, str]]:
    """Platforms with their establishment's slug, of one establishment or all."""
    query = select(LtiPlatform, Establishment.slug).join(Establishment).order_by(LtiPlatform.id)
    if establishment_id is not None:
        query = query.where(LtiPlatform.establishment_id == establishment_id)
    return [(p, slug) for p, slug in session.execute(query).all()]
