"""Deep Linking: a teacher places acquis' "progress and badges" resource in a Moodle course.

The deep linking launch is verified like any other; its settings (where to answer, what may be
answered, the opaque ``data`` to echo) are kept in the launch storage under a random id for
half an hour, and the teacher is shown a small picker. Its form answers with an
``LtiDeepLinkingResponse`` JWT signed by the tool's current key (PyLTI1p3's DeepLink), which the
browser posts to the platform's ``deep_link_return_url``. A settings record is used once.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlparse

from pylti1p3.deep_link import DeepLink
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.registration import Registration

from acquis.lti.storage import DbLaunchDataStorage

MESSAGE_TYPE = "LtiDeepLinkingRequest"
SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
CONTENT_TYPE = "ltiResourceLink"
TTL = 1800  # seconds a teacher has to choose


def _key(dl_id: str) -> str:
    return f"acquis-dl-{dl_id}"


def settings_problem(body: dict[str, Any]) -> str | None:
    """Why the launch's deep linking settings cannot be answered, or None when they can."""
    settings = body.get(SETTINGS_CLAIM)
    if not isinstance(settings, dict):
        return "deep_linking_settings"
    url = settings.get("deep_link_return_url")
    parsed = urlparse(url) if isinstance(url, str) else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
        return "deep_linking_settings.deep_link_return_url"
    accept = settings.get("accept_types")
    if not isinstance(accept, list) or CONTENT_TYPE not in accept:
        return f"deep_linking_settings.accept_types lacks {CONTENT_TYPE}"
    return None


def remember(
    storage: DbLaunchDataStorage, body: dict[str, Any], platform_id: int, deployment_id: str, user_sub: str
) -> str:
    dl_id = secrets.token_urlsafe(24)
    storage.set_value(
        _key(dl_id),
        {
            "settings": body[SETTINGS_CLAIM],
            "platform_id": platform_id,
            "deployment_id": deployment_id,
            "user_sub": user_sub,
        },
        exp=TTL,
    )
    return dl_id


def peek(storage: DbLaunchDataStorage, dl_id: str) -> dict[str, Any] | None:
    value = storage.get_value(_key(dl_id))
    return value if isinstance(value, dict) else None


def take(storage: DbLaunchDataStorage, dl_id: str) -> dict[str, Any] | None:
    value = storage.take(_key(dl_id))
    return value if isinstance(value, dict) else None


def response_jwt(registration: Registration, record: dict[str, Any], title: str, launch_url: str) -> str:
    """The signed answer: one resource link to the tool's launch URL, ``data`` echoed."""
    resource = DeepLinkResource().set_type(CONTENT_TYPE).set_title(title).set_url(launch_url)
    link = DeepLink(registration, str(record["deployment_id"]), record["settings"])
    return str(link.get_response_jwt([resource]))


def return_url(record: dict[str, Any]) -> str:
    return str(record["settings"]["deep_link_return_url"])
