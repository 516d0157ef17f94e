"""The acquis session a verified launch opens, and the decorator every acquis page uses.

The session is a signed (not encrypted) cookie bound to (establishment, platform, deployment,
course, user, role): it holds identifiers only, never a secret. Its signing key is derived from
the encryption keys of the instance, so every web process shares it and rotating those keys
(newest first in ACQUIS_SECRET_KEYS) keeps sessions signed with an older key valid.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, ParamSpec, TypeVar, cast

from flask import Response, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from acquis.core import crypto
from acquis.lti import pages

COOKIE = "acquis_lti"
MAX_AGE = 8 * 3600  # a working day; after that the user launches again from Moodle

ROLES = ("student", "teacher", "admin")

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
_ADMIN_ROLES = {
    _LIS + "institution/person#Administrator",
    _LIS + "system/person#Administrator",
    _LIS + "membership#Administrator",
}
_TEACHER_ROLES = {_LIS + "membership#Instructor", "Instructor"}
_STUDENT_ROLES = {_LIS + "membership#Learner", "Learner"}


def map_role(roles: list[str]) -> str | None:
    """The acquis role of a launch; the strongest wins (a Moodle admin is often also Instructor)."""
    given = set(roles)
    if given & _ADMIN_ROLES:
        return "admin"
    if given & _TEACHER_ROLES:
        return "teacher"
    if given & _STUDENT_ROLES:
        return "student"
    return None


@dataclass(frozen=True)
class LtiSession:
    establishment_id: int
    establishment_slug: str
    platform_id: int
    deployment_id: str
    context_id: str
    context_title: str
    user_sub: str
    user_name: str
    role: str
    locale: str


P = ParamSpec("P")
R = TypeVar("R")


_serializers: dict[tuple[str, ...], URLSafeTimedSerializer] = {}


def _serializer() -> URLSafeTimedSerializer:
    """The cookie serializer for the keys the process is configured with (one per key tuple:
    reconfigured keys, a rotation, get a new one; deriving keys costs at every request)."""
    configured = crypto.configured_keys()
    found = _serializers.get(configured)
    if found is None:
        found = _serializers[configured] = _new_serializer(configured)
    return found


def _new_serializer(configured: tuple[str, ...]) -> URLSafeTimedSerializer:
    # Derived rather than reused: the Fernet keys encrypt secrets, this one only signs cookies.
    derived = [
        hmac.new(key.encode(), b"acquis-lti-session", hashlib.sha256).hexdigest() for key in configured
    ]
    # itsdangerous signs with the last key and accepts all: newest key is first in the settings.
    return URLSafeTimedSerializer(list(reversed(derived)), salt="acquis.lti.session")


def dumps(session: LtiSession) -> str:
    return str(_serializer().dumps(asdict(session)))


def loads(token: str) -> LtiSession | None:
    try:
        data = _serializer().loads(token, max_age=MAX_AGE)
        return LtiSession(**data)
    except (BadSignature, TypeError, ValueError):
        return None


def set_cookie(response: BaseResponse, session: LtiSession) -> None:
    secure = request.is_secure
    response.set_cookie(
        COOKIE,
        dumps(session),
        max_age=MAX_AGE,
        httponly=True,
        secure=secure,
        # Inside Moodle's iframe the cookie is third-party: only SameSite=None (which browsers
        # accept with Secure only) lets it through; over plain HTTP (development) Lax is used.
        samesite="None" if secure else "Lax",
        partitioned=secure,
        path="/",
    )


def current() -> LtiSession | None:
    token = request.cookies.get(COOKIE)
    return loads(token) if token else None


def lti_required(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Guard an acquis page: a launch session for this establishment, this course and one of ``roles``.

    The view's ``slug`` argument names the establishment and its optional ``context_id`` the
    course; anything else answers 401/403 with a page saying why. The session is in ``g.lti``.
    """
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown role(s): {sorted(unknown)}")

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            session = current()
            if session is None:
                return pages.error("no_session", 401)
            slug = cast(str | None, kwargs.get("slug"))
            if slug is not None and slug != session.establishment_slug:
                return pages.error("forbidden", 403, "établissement / establishment")
            context_id = cast(str | None, kwargs.get("context_id"))
            if context_id is not None and context_id != session.context_id:
                return pages.error("forbidden", 403, "cours / course")
            if session.role not in roles:
                return pages.error("forbidden", 403, "rôle / role")
            g.lti = session
            return view(*args, **kwargs)

        return wrapper

    return decorator


def as_context(session: LtiSession) -> dict[str, Any]:
    return {"name": session.user_name, "course": session.context_title, "role": session.role}
