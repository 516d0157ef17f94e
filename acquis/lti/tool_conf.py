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
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

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


def registration_of(session: Session, platform: LtiPlatform) -> Registration:
    """PyLTI1p3's view of a platform with the tool's current key, which signs service tokens and
    deep linking responses (logins and launches only verify: DbToolConf leaves the key out)."""
    key = keys.current(session)
    return (
        Registration()
        .set_issuer(platform.issuer)
        .set_client_id(platform.client_id)
        .set_auth_login_url(platform.auth_login_url)
        .set_auth_token_url(platform.auth_token_url)
        .set_key_set_url(platform.jwks_url)
        .set_tool_private_key(key.private_pem)
        .set_tool_public_key(key.public_pem)
    )


# Built once per process: the statement, not its result (the platform is read at every login
# and launch, so an edited or removed platform takes effect at the next one). Two rows at most:
# without a client id the issuer alone must be unambiguous.
_PLATFORM_COLUMNS = select(
    LtiPlatform.id,
    LtiPlatform.issuer,
    LtiPlatform.client_id,
    LtiPlatform.auth_login_url,
    LtiPlatform.auth_token_url,
    LtiPlatform.jwks_url,
    Establishment.id.label("establishment_id"),
    Establishment.slug,
    Establishment.locale,
).join(Establishment, Establishment.id == LtiPlatform.establishment_id)
_BY_ISSUER = _PLATFORM_COLUMNS.where(LtiPlatform.issuer == bindparam("iss")).limit(2)
_BY_ISSUER_AND_CLIENT = _BY_ISSUER.where(LtiPlatform.client_id == bindparam("client_id"))
_DEPLOYMENT_IDS = select(LtiDeployment.deployment_id).where(
    LtiDeployment.platform_id == bindparam("platform_id")
)


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

    def _find(self, session: Session, iss: str, client_id: str | None) -> tuple[PlatformRef, Any] | None:
        """The platform as plain columns (no ORM objects: this runs twice per launch)."""
        if client_id:
            rows = session.execute(_BY_ISSUER_AND_CLIENT, {"iss": iss, "client_id": client_id}).all()
        else:
            rows = session.execute(_BY_ISSUER, {"iss": iss}).all()
        # Without a client id the issuer alone must be unambiguous.
        if len(rows) != 1:
            return None
        row = rows[0]
        ref = PlatformRef(
            platform_id=row.id,
            establishment_id=row.establishment_id,
            establishment_slug=row.slug,
            establishment_locale=row.locale,
            issuer=row.issuer,
            client_id=row.client_id,
        )
        return ref, row

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        return self.find_registration_by_params(iss, None, *args, **kwargs)  # type: ignore[arg-type]

    def find_registration_by_params(
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration:
        # One transaction for the platform and, at a launch, its deployments: PyLTI1p3 asks for
        # the registration and then for the deployment, and each transaction costs. Logins and
        # launches only verify: the tool's signing key is not read (see registration_of).
        launching = kwargs.get("jwt_body") is not None
        with self._db.session() as session:
            found = self._find(session, iss, client_id)
            if found is None:
                return None  # type: ignore[return-value]  # PyLTI1p3 turns None into "registration not found"
            ref, row = found
            if launching:
                ids = session.scalars(_DEPLOYMENT_IDS, {"platform_id": row.id})
                self._deployments = (iss, row.client_id, set(ids))
        self.platform = ref
        return (
            Registration()
            .set_issuer(row.issuer)
            .set_client_id(row.client_id)
            .set_auth_login_url(row.auth_login_url)
            .set_auth_token_url(row.auth_token_url)
            .set_key_set_url(row.jwks_url)
        )

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
