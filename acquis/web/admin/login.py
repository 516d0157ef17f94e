"""The local administrators' login: a form with a CSRF token, and a throttle on failures.

Before signing in there is no session to derive the CSRF token from, so the form page sets a
random ``acquis_login`` cookie first (SameSite=Strict) and the token is derived from it.
"""

from __future__ import annotations

import secrets

from flask import g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from acquis.core import admins
from acquis.web import csrf
from acquis.web.admin import auth, bp, render
from acquis.web.context import runtime
from acquis.web.i18n import _

LOGIN_COOKIE = "acquis_login"


def _safe_next(target: str | None) -> str:
    # Only a path inside the console: never an absolute URL (open redirect).
    if target and target.startswith("/admin") and not target.startswith("//"):
        return target
    return url_for("admin.index")


def _form(error: str | None = None, status: int = 200) -> BaseResponse:
    value = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    page = render(
        "admin/login.html",
        login_token=csrf.token(value),
        next=request.values.get("next", ""),
        error=error,
    )
    response = BaseResponse(page, status=status, mimetype="text/html")
    response.set_cookie(
        LOGIN_COOKIE, value, httponly=True, samesite="Strict", secure=request.is_secure, path="/admin"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/login")
def login() -> BaseResponse:
    return _form()


@bp.post("/login")
def login_post() -> BaseResponse:
    csrf.check(LOGIN_COOKIE)
    email = request.form.get("email", "").strip()
    password = request.form.get("password", "")
    if not email or not password:
        return _form(_("Enter your email address and your password."), 400)
    with runtime().db.session() as session:
        try:
            user = admins.authenticate(session, email, password)
        except admins.Locked:
            locked = _("Too many failed attempts: this account is locked for a while. Try again later.")
            return _form(locked, 429)
        token = auth.dumps(user) if user is not None else None
    if token is None:
        return _form(_("Wrong email address or password."), 401)
    response = redirect(_safe_next(request.form.get("next")), code=303)
    response.set_cookie(
        auth.COOKIE,
        token,
        max_age=auth.MAX_AGE,
        httponly=True,
        secure=request.is_secure,
        samesite="Strict",
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/admin")
    return response


@bp.post("/logout")
@auth.admin_required
def logout() -> BaseResponse:
    g.admin.check_csrf()
    response = redirect(url_for("admin.login"), code=303)
    response.delete_cookie(auth.COOKIE, path="/")
    return response
