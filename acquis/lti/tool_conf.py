"""PyLTI1p3 tool configuration read from the database (``lti_platform``, ``lti_deployment``).

A platform is found by issuer and client id (one Moodle site may register the tool more than
once, for several establishments); a deployment id is accepted only if it belongs to that very
platform, hence to the establishment the platform was registered for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.request import Request
from pylti1p3.tool_config.abstract import ToolConfAbstract
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from acquis.core.db import Database
from acquis.core.models import Establishment, LtiDeployment, LtiPlatform
from acquis.lti import keys


@dataclass(frozen=True)
class PlatformRef:
    """What a launch needs to know about the platform once the registration is found."""

    platform_id: int
    establishment_id: int
    establishment_slug: str
    establishment_locale: str
    issuer: str
    client_id: str


def registration_of(session: Session, platform: LtiPlatform, signing: bool = True) -> Registration:
    """PyLTI1p3's view of a platform; with ``signing``, the tool's current key too (it signs
    service tokens and deep linking responses; logins and launches only verify, and skip it)."""
    registration = (
        Registration()
        .set_issuer(platform.issuer)
        .set_client_id(platform.client_id)
        .set_auth_login_url(platform.auth_login_url)
        .set_auth_token_url(platform.auth_token_url)
        .set_key_set_url(platform.jwks_url)
    )
    if signing:
        key = keys.current(session)
        registration.set_tool_private_key(key.private_pem).set_tool_public_key(key.public_pem)
    return registration


class DbToolConf(ToolConfAbstract[Request]):
    def __init__(self, db: Database) -> None:
        super().__init__()
        self._db = db
        self.platform: PlatformRef | None = None
        # (issuer, client id, deployment ids) read with the registration
        self._deployments: tuple[str, str, set[str]] | None = None

    # Every issuer may have several client ids: never fall back to "first platform of that issuer".
    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_platform(self, iss: str, client_id: str | None) -> PlatformRef | None:
        with self._db.session() as session:
            found = self._find(session, iss, client_id)
        return found[0] if found else None

    def _find(
        self, session: Session, iss: str, client_id: str | None
    ) -> tuple[PlatformRef, LtiPlatform] | None:
        query = (
            select(LtiPlatform, Establishment)
            .join(Establishment, Establishment.id == LtiPlatform.establishment_id)
            .where(LtiPlatform.issuer == iss)
            .options(selectinload(LtiPlatform.deployments))
        )
        if client_id:
            query = query.where(LtiPlatform.client_id == client_id)
        rows = session.execute(query.limit(2)).all()
        # Without a client id the issuer alone must be unambiguous.
        if len(rows) != 1:
            return None
        platform, est = rows[0]
        ref = PlatformRef(
            platform_id=platform.id,
            establishment_id=est.id,
            establishment_slug=est.slug,
            establishment_locale=est.locale,
            issuer=platform.issuer,
            client_id=platform.client_id,
        )
        return ref, platform

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        return self.find_registration_by_params(iss, None, *args, **kwargs)  # type: ignore[arg-type]

    def find_registration_by_params(
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration:
        # One transaction for the platform, its deployments and the tool's key: a launch asks
        # for the registration and then for the deployment, and each commit costs.
        with self._db.session() as session:
            found = self._find(session, iss, client_id)
            if found is None:
                return None  # type: ignore[return-value]  # PyLTI1p3 turns None into "registration not found"
            ref, platform = found
            registration = registration_of(session, platform, signing=False)
            self._deployments = (iss, platform.client_id, {d.deployment_id for d in platform.deployments})
        self.platform = ref
        return registration

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return None  # issuers are always treated as having many client ids

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        if self._deployments is not None and self._deployments[:2] == (iss, client_id):
            known = deployment_id in self._deployments[2]
            return Deployment().set_deployment_id(deployment_id) if known else None
        with self._db.session() as session:
            found = session.scalar(
                select(LtiDeployment.id)
                .join(LtiPlatform, LtiPlatform.id == LtiDeployment.platform_id)
                .where(
                    LtiPlatform.issuer == iss,
                    LtiPlatform.client_id == client_id,
                    LtiDeployment.deployment_id == deployment_id,
                )
            )
        if found is None:
            return None
        return Deployment().set_deployment_id(deployment_id)
