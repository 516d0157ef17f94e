"""LTI Dynamic Registration as Moodle 4.x performs it.

The Moodle admin pastes ``<public url>/e/<slug>/lti/register`` in "Tool URL…"; Moodle opens it
with ``openid_configuration`` (its ``mod/lti/openid-configuration.php``) and a one-time
``registration_token``. The tool reads the configuration, POSTs its own registration to the
``registration_endpoint`` with the token as Bearer, and stores the client id and deployment id
Moodle answers with, for that establishment. Moodle keeps the new tool "pending" until the admin
activates it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.errors import Conflict, InvalidInput
from acquis.core.models import Establishment, LtiDeployment, LtiPlatform

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TIMEOUT = 15
# The services acquis uses: Moodle turns these scopes into the tool's settings "IMS LTI
# Assignment and Grade Services: Use this service for grade sync and column management" and
# "IMS LTI Names and Role Provisioning: Use this service to retrieve members' information".
SERVICE_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)


CODE_HOURS = 48  # how long a registration URL given to an admin stays usable


def _code_serializer(keys: tuple[str, ...]) -> URLSafeSerializer:
    derived = [hmac.new(k.encode(), b"acquis-lti-registration", hashlib.sha256).hexdigest() for k in keys]
    return URLSafeSerializer(list(reversed(derived)), salt="acquis.lti.registration")


def registration_code(keys: tuple[str, ...], slug: str, hours: int = CODE_HOURS) -> str:
    """The code of a registration URL for ``slug``, valid ``hours``.

    Without it anyone could make acquis fetch a URL of their choosing and, worse, register a
    platform they run for an establishment, then launch into it as its administrator: the URL
    must come from someone who administers acquis (``acquis lti registration-url``).
    """
    expires = int(time.time()) + hours * 3600
    return str(_code_serializer(keys).dumps({"slug": slug, "exp": expires, "n": secrets.token_hex(6)}))


def check_code(keys: tuple[str, ...], slug: str, code: str) -> bool:
    try:
        data = _code_serializer(keys).loads(code)
    except BadSignature:
        return False
    return isinstance(data, dict) and data.get("slug") == slug and int(data.get("exp", 0)) > time.time()


class RegistrationError(Exception):
    """The platform could not be read or refused the registration; the message says which."""


@dataclass(frozen=True)
class PlatformConfiguration:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    product: str


@dataclass(frozen=True)
class Registered:
    issuer: str
    client_id: str
    deployment_id: str
    product: str


def _http_url(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput("missing or not a string", field=name)
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidInput("expected an http(s) URL", field=name)
    return value


def _same_site(url: str, issuer: str) -> bool:
    """Whether ``url`` lies under the issuer (scheme, host and port equal; path under the issuer's)."""
    u, i = urlparse(url), urlparse(issuer)
    return (u.scheme, u.netloc) == (i.scheme, i.netloc) and u.path.startswith(i.path.rstrip("/"))


def read_configuration(openid_configuration: str, http: requests.Session) -> PlatformConfiguration:
    _http_url(openid_configuration, "openid_configuration")
    try:
        response = http.get(openid_configuration, timeout=TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise RegistrationError(f"platform configuration unreachable: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise RegistrationError(f"platform configuration answered HTTP {response.status_code}")
    try:
        conf = response.json()
    except ValueError as exc:
        raise RegistrationError("platform configuration is not JSON") from exc
    if not isinstance(conf, dict):
        raise RegistrationError("platform configuration is not a JSON object")
    try:
        issuer = _http_url(conf.get("issuer"), "issuer")
        endpoints = {
            name: _http_url(conf.get(name), name)
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint")
        }
    except InvalidInput as exc:
        raise RegistrationError(f"platform configuration: {exc}") from exc
    # The spec's rule: the configuration is served under the issuer. And the token is only ever
    # sent to the issuer's own site, so a forged configuration cannot make us post it elsewhere.
    if not _same_site(openid_configuration, issuer):
        raise RegistrationError("the configuration URL is not under the platform's issuer")
    if not _same_site(endpoints["registration_endpoint"], issuer):
        raise RegistrationError("the registration endpoint is not on the platform's site")
    platform_conf = conf.get(PLATFORM_CONFIGURATION) or {}
    product = str(platform_conf.get("product_family_code") or "") if isinstance(platform_conf, dict) else ""
    return PlatformConfiguration(issuer=issuer, product=product, **endpoints)


def tool_registration(base_url: str, client_name: str) -> dict[str, Any]:
    """What the tool asks for: Moodle's ``registration_to_config`` requires each of these fields."""
    launch = base_url + "/lti/launch"
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": base_url + "/lti/login",
        "redirect_uris": [launch],
        "client_name": client_name,
        "jwks_uri": base_url + "/lti/jwks",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SERVICE_SCOPES),
        TOOL_CONFIGURATION: {
            "domain": urlparse(base_url).netloc,
            "description": "acquis : compétences validées et Open Badges / validated competencies",
            "target_link_uri": launch,
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [
                {"type": "LtiResourceLinkRequest", "target_link_uri": launch},
                {"type": "LtiDeepLinkingRequest", "target_link_uri": launch},
            ],
        },
    }


def register(
    session: Session,
    est: Establishment,
    openid_configuration: str,
    registration_token: str,
    base_url: str,
    http: requests.Session | None = None,
) -> Registered:
    """Register the tool with the platform, then record it for ``est``; nothing is stored on error."""
    if not registration_token.strip():
        raise InvalidInput("must not be empty", field="registration_token")
    http = http or requests.Session()
    conf = read_configuration(openid_configuration, http)
    payload = tool_registration(base_url, f"acquis — {est.name}")
    try:
        response = http.post(
            conf.registration_endpoint,
            json=payload,
            timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {registration_token}", "Accept": "application/json"},
        )
    except requests.RequestException as exc:
        raise RegistrationError(f"registration endpoint unreachable: {type(exc).__name__}") from exc
    if response.status_code not in (200, 201):
        # Moodle answers with a short code such as "token_already_used"; the token is never echoed.
        reason = response.text.strip()[:200] or "no reason given"
        raise RegistrationError(
            f"the platform refused the registration (HTTP {response.status_code}: {reason})"
        )
    try:
        answer = response.json()
    except ValueError as exc:
        raise RegistrationError("the platform's registration answer is not JSON") from exc
    client_id = str(answer.get("client_id") or "") if isinstance(answer, dict) else ""
    tool_conf = answer.get(TOOL_CONFIGURATION) if isinstance(answer, dict) else None
    deployment_id = str(tool_conf.get("deployment_id") or "") if isinstance(tool_conf, dict) else ""
    if not client_id or not deployment_id:
        raise RegistrationError("the platform's registration answer lacks client_id or deployment_id")

    existing = session.scalar(
        select(LtiPlatform).where(LtiPlatform.issuer == conf.issuer, LtiPlatform.client_id == client_id)
    )
    if existing is not None and existing.establishment_id != est.id:
        raise Conflict("this platform registration already belongs to another establishment")
    if existing is None:
        existing = LtiPlatform(
            establishment_id=est.id,
            issuer=conf.issuer,
            client_id=client_id,
            auth_login_url=conf.authorization_endpoint,
            auth_token_url=conf.token_endpoint,
            jwks_url=conf.jwks_uri,
            registered_by="dynamic",
        )
        session.add(existing)
    if deployment_id not in {d.deployment_id for d in existing.deployments}:
        existing.deployments.append(LtiDeployment(deployment_id=deployment_id))
    session.flush()
    return Registered(conf.issuer, client_id, deployment_id, conf.product)


def registration_url(public_url: str, keys: tuple[str, ...], slug: str, hours: int = CODE_HOURS) -> str:
    """The URL an admin pastes in Moodle's "Tool URL" to register acquis for establishment ``slug``."""
    return f"{public_url}/e/{slug}/lti/register/{registration_code(keys, slug, hours)}"
