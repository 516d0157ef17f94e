"""Who is using the admin console, and what they may see.

Two ways in: an LTI launch with an Administrator role (the ``acquis_lti`` session, limited to
its establishment), or a local administrator's login (the ``acquis_admin`` cookie, signed like
the LTI session, every establishment). ``admin_required`` checks the establishment named by
the route's ``slug`` on every request: a request for another establishment answers 403.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar, cast

from flask import Response, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response as BaseResponse

from acquis.core import crypto
from acquis.core.models import AdminUser
from acquis.lti import pages
from acquis.lti import session as lti_session
from acquis.web import csrf
from acquis.web.context import runtime

COOKIE = "acquis_admin"
MAX_AGE = 8 * 3600


@dataclass(frozen=True)
class Admin:
    """The person at the console: ``slug`` is the only establishment they may see, or None for all."""

    name: str
    slug: str | None
    locale: str | None  # an LTI admin's launch locale; a local admin's browser decides otherwise
    cookie: str  # the session cookie whose value the forms' CSRF tokens are derived from

    @property
    def local(self) -> bool:
        return self.slug is None

    def may_see(self, slug: str) -> bool:
        return self.slug is None or self.slug == slug

    def csrf_token(self) -> str:
        return csrf.token(request.cookies.get(self.cookie, ""))

    def check_csrf(self) -> None:
        csrf.check(self.cookie)


def _serializer() -> URLSafeTimedSerializer:
    derived = [
        hmac.new(key.encode(), b"acquis-admin-session", hashlib.sha256).hexdigest()
        for key in crypto.configured_keys()
    ]
    return URLSafeTimedSerializer(list(reversed(derived)), salt="acquis.admin.session")


def dumps(user: AdminUser) -> str:
    return str(_serializer().dumps({"id": user.id, "email": user.email}))


def _local() -> Admin | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        data = _serializer().loads(token, max_age=MAX_AGE)
    except BadSignature:
        return None
    with runtime().db.session() as session:
        user = session.get(AdminUser, int(data.get("id", 0)))
        # A deleted account, or one whose email changed, loses its sessions at once.
        if user is None or user.email != data.get("email"):
            return None
        return Admin(name=user.email, slug=None, locale=None, cookie=COOKIE)


def current() -> Admin | None:
    local = _local()
    if local is not None:
        return local
    lti = lti_session.current()
    if lti is not None and lti.role == "admin":
        return Admin(
            name=lti.user_name or lti.user_sub,
            slug=lti.establishment_slug,
            locale=lti.locale,
            cookie=lti_session.COOKIE,
        )
    return None


P = ParamSpec("P")
R = TypeVar("R")


def admin_required(view: Callable[P, R]) -> Callable[P, R | Response | BaseResponse]:
    """Guard an admin page: a signed-in admin allowed to see the route's establishment."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response | BaseResponse:
        admin = current()
        if admin is None:
            from flask import redirect, url_for

            return redirect(url_for("admin.login", next=request.path), code=303)
        slug = cast(str | None, kwargs.get("slug"))
        if slug is not None and not admin.may_see(slug):
            return pages.error("forbidden", 403, "établissement / establishment")
        g.admin = admin
        return view(*args, **kwargs)

    return wrapper


def local_required(view: Callable[P, R]) -> Callable[P, R | Response | BaseResponse]:
    """Guard what only a local administrator may do (create establishments)."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response | BaseResponse:
        admin: Admin | None = g.get("admin")
        if admin is None or not admin.local:
            return pages.error("forbidden", 403, "administrateur local / local administrator")
        return view(*args, **kwargs)

    return admin_required(wrapper)


def admin() -> Admin:
    who: Admin = g.admin
    return who
