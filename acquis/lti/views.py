"""LTI 1.3 endpoints: the tool's key set, OIDC login initiation, the launch, and role landings.

Moodle settings for a manually registered tool (``acquis platform add``): Tool URL and
redirection URI ``<public url>/lti/launch``, initiate login URL ``<public url>/lti/login``,
public keyset URL ``<public url>/lti/jwks``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlparse

from flask import Blueprint, Flask, Response, jsonify, redirect, request, url_for
from flask.blueprints import BlueprintSetupState
from pylti1p3.contrib.flask.message_launch import FlaskMessageLaunch
from pylti1p3.contrib.flask.oidc_login import FlaskOIDCLogin
from pylti1p3.exception import LtiException, LtiInvalidNonceException, OIDCException
from pylti1p3.request import Request
from sqlalchemy.orm import Session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response as BaseResponse

from acquis.core import crypto, establishments
from acquis.core.errors import Conflict, InvalidInput, NotFound
from acquis.core.models import LtiPlatform
from acquis.core.runtime import EXTENSION_KEY, Runtime
from acquis.lti import courses, deep_linking, keys, pages, registration, services
from acquis.lti import session as lti_session
from acquis.lti.session import LtiSession, lti_required
from acquis.lti.storage import DbLaunchDataStorage
from acquis.lti.tool_conf import DbToolConf, PlatformRef, registration_of
from acquis.web import csrf
from acquis.web.context import runtime

log = logging.getLogger(__name__)

bp = Blueprint("lti", __name__)

LOGIN_TTL = 600  # seconds between login initiation and launch; the state cookie lives 300
LOGIN_PARAMS = ("iss", "login_hint", "lti_message_hint", "client_id", "target_link_uri", "lti_deployment_id")

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
MESSAGE_TYPES = (RESOURCE_LINK_REQUEST, deep_linking.MESSAGE_TYPE)


class KeySetCache:
    """Platforms' key sets, kept a few minutes per process instead of fetched at every launch.

    A token whose kid is not in the cached set makes one fresh fetch (the platform rotated its
    key), at most once a second per URL, so that forged kids cannot turn every request into a
    fetch. A rotated-out key stays trusted for at most ``ttl``.
    """

    def __init__(self, ttl: float = 300.0, refetch_after: float = 1.0) -> None:
        self.ttl = ttl
        self.refetch_after = refetch_after
        self._sets: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, url: str, kid: str | None, fetch: Callable[[str], Any]) -> Any:
        now = time.monotonic()
        with self._lock:
            cached = self._sets.get(url)
        if cached is not None:
            age, key_set = now - cached[0], cached[1]
            kids = {k.get("kid") for k in key_set.get("keys") or [] if isinstance(k, dict)}
            if age < self.ttl and (kid in kids or age < self.refetch_after):
                return key_set
        key_set = fetch(url)
        if isinstance(key_set, dict) and isinstance(key_set.get("keys"), list):
            with self._lock:
                self._sets[url] = (now, key_set)
        return key_set

    def clear(self) -> None:
        with self._lock:
            self._sets.clear()


KEY_SETS = KeySetCache()


@bp.record_once
def _proxy_fix(state: BlueprintSetupState) -> None:
    """Trust X-Forwarded-Proto/Host from ACQUIS_TRUSTED_PROXIES reverse proxies (0: none).

    Behind a TLS-terminating proxy the request looks like plain HTTP; without this, cookies
    would lose Secure and SameSite=None, and Moodle's iframe would never send them back.
    """
    app = cast(Flask, state.app)
    hops = cast(Runtime, app.extensions[EXTENSION_KEY]).settings.trusted_proxies
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops
        )


class FlaskRequest(Request):
    """The current Flask request as PyLTI1p3 reads it (its own adapter is untyped and wants a session).

    Parameters come from the query string on GET and from the form on POST, as the spec says.
    """

    @property
    def session(self) -> dict[str, Any]:
        return {}

    def get_param(self, key: str) -> str:
        # PyLTI1p3 tests parameters for truthiness, so "" stands for "absent".
        source = request.args if request.method == "GET" else request.form
        return source.get(key, "")

    def get_cookie(self, key: str) -> str | None:
        return request.cookies.get(key)

    def is_secure(self) -> bool:
        return request.is_secure


class LaunchRefused(Exception):
    def __init__(self, code: str, status: int, detail: str = "") -> None:
        super().__init__(detail or code)
        self.code = code
        self.status = status
        self.detail = detail


def _login_key(state: str) -> str:
    return f"acquis-login-{state}"


def _refuse(code: str, status: int, detail: str = "") -> Response:
    # The detail names the check that failed; it never contains the token or any key.
    log.warning("lti launch refused: %s (%s)", code, detail)
    return pages.error(code, status, detail)


@bp.get("/lti/jwks")
def jwks() -> Response:
    with runtime().db.session() as session:
        response = jsonify(keys.jwks(session))
    # Short cache: platforms must see a rotated key soon, and the previous key stays published.
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> Response:
    """Third-party initiated login: check the platform, set the state cookie, go to its auth URL."""
    rt = runtime()
    storage = DbLaunchDataStorage(rt.db)
    storage.purge_expired()
    conf = DbToolConf(rt.db)
    lti_request = FlaskRequest()
    oidc = FlaskOIDCLogin(lti_request, conf, launch_data_storage=storage)
    oidc.set_launch_data_storage(storage).set_launch_data_lifetime(LOGIN_TTL)
    try:
        with storage.batch():  # PyLTI1p3's nonce and acquis' login record, in one transaction
            response: Response = oidc.redirect(url_for("lti.launch", _external=True))
            query = parse_qs(urlparse(response.headers.get("Location", "")).query)
            state, nonce = query["state"][0], query["nonce"][0]
            assert conf.platform is not None
            params = {k: v for k in LOGIN_PARAMS if (v := lti_request.get_param(k))}
            # Kept so the launch can check the nonce belongs to this very login, and so a launch
            # whose state cookie was blocked can offer to redo this login in a new window.
            storage.set_value(
                _login_key(state),
                {"nonce": nonce, "platform_id": conf.platform.platform_id, "params": params},
                exp=LOGIN_TTL,
            )
    except (OIDCException, LtiException) as exc:
        return _refuse("invalid_login", 400, str(exc))
    return response


class _Launch(FlaskMessageLaunch):
    """PyLTI1p3's launch with acquis' own checks run last, before anything is stored."""

    def __init__(self, lti_request: FlaskRequest, conf: DbToolConf, storage: DbLaunchDataStorage, state: str):
        super().__init__(lti_request, conf, launch_data_storage=storage)
        self._conf = conf
        self._storage = storage
        self._state = state
        self.session: LtiSession | None = None
        self.roster_due = False
        # exp and iat are required: a token without them would never expire.
        self.set_jwt_verify_options({"verify_aud": False, "require": ["exp", "iat"]})

    def fetch_public_key(self, key_set_url: str) -> Any:
        kid = cast(dict[str, Any], self._jwt.get("header") or {}).get("kid")
        return KEY_SETS.get(key_set_url, kid, super().fetch_public_key)

    def save_launch_data(self) -> _Launch:
        body = cast(dict[str, Any], self._jwt["body"])
        message_type = body.get(CLAIM + "message_type")
        if message_type not in MESSAGE_TYPES:
            raise LaunchRefused("message_type", 400, str(message_type))
        ref = self._conf.platform
        assert ref is not None
        aud = body.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and body.get("azp") != ref.client_id:
            raise LaunchRefused("invalid_launch", 400, "azp does not name this tool's client id")
        self.session = _session_from(body, ref)
        if message_type == deep_linking.MESSAGE_TYPE:
            if self.session.role == "student" or not self.session.context_id:
                raise LaunchRefused("role", 403, "deep linking: a teacher of the course only")
            if (problem := deep_linking.settings_problem(body)) is not None:
                raise LaunchRefused("claims", 400, problem)
        # The login record and the nonce are taken together, in one transaction: of two
        # requests replaying one launch, one only gets them. PyLTI1p3's own copy of the launch
        # (for restoring it by launch id) is not kept: acquis never restores a launch.
        mismatch: list[bool] = []

        def same_login(values: list[Any]) -> bool:
            login = values[0] if isinstance(values[0], dict) else {}
            ok = login.get("nonce") == body.get("nonce") and login.get("platform_id") == ref.platform_id
            mismatch.append(not ok)
            return ok

        def record_course(db: Session) -> None:
            s = self.session
            if s is not None and s.context_id:
                course = courses.record(
                    db, s.platform_id, s.deployment_id, s.context_id, s.context_title, body
                )
                self.roster_due = s.role == "teacher" and courses.roster_due(course)

        taken = self._storage.take_all(
            (_login_key(self._state), f"lti1p3-nonce-{body.get('nonce')}"),
            accept=same_login,
            then=record_course,  # the course's service claims, in the same transaction
        )
        if taken is None and any(mismatch):
            raise LaunchRefused("state", 400, "nonce or platform differs from the login")
        if taken is None:
            raise LaunchRefused("replayed", 400, "state or nonce already used")
        return self

    # State and nonce are checked by acquis itself: the state cookie against the form in
    # launch(), the nonce against this login's record, taken once in save_launch_data. PyLTI1p3's
    # own checks read the same records again, one transaction each.
    def validate_state(self) -> _Launch:
        if not request.form.get("state"):
            raise LaunchRefused("state", 400, "state")
        return self

    def validate_nonce(self) -> _Launch:
        if not self._get_jwt_body().get("nonce"):
            raise LaunchRefused("claims", 400, "nonce")
        return self


def _session_from(body: dict[str, Any], ref: PlatformRef) -> LtiSession:
    roles = body.get(CLAIM + "roles")
    if not isinstance(roles, list):
        raise LaunchRefused("claims", 400, "roles")
    role = lti_session.map_role([str(r) for r in roles])
    if role is None:
        raise LaunchRefused("role", 403, ", ".join(str(r) for r in roles) or "-")
    context = body.get(CLAIM + "context") or {}
    if not isinstance(context, dict):
        raise LaunchRefused("claims", 400, "context")
    context_id = str(context.get("id") or "")
    if not context_id and role != "admin":
        raise LaunchRefused("claims", 400, "context.id")
    if not body.get(CLAIM + "target_link_uri"):
        raise LaunchRefused("claims", 400, "target_link_uri")
    presentation = body.get(CLAIM + "launch_presentation") or {}
    locale = str(presentation.get("locale") or "") if isinstance(presentation, dict) else ""
    return LtiSession(
        establishment_id=ref.establishment_id,
        establishment_slug=ref.establishment_slug,
        platform_id=ref.platform_id,
        deployment_id=str(body.get(CLAIM + "deployment_id")),
        context_id=context_id,
        context_title=str(context.get("title") or context.get("label") or ""),
        user_sub=str(body["sub"]),
        user_name=str(body.get("name") or body.get("given_name") or ""),
        role=role,
        locale=locale or ref.establishment_locale,
    )


@bp.post("/lti/launch")
def launch() -> BaseResponse:
    rt = runtime()
    storage = DbLaunchDataStorage(rt.db)
    state = request.form.get("state", "")
    if not request.form.get("id_token"):
        return _refuse("claims", 400, "id_token")
    if not state:
        return _refuse("state", 400, "state")
    if request.cookies.get(f"lti1p3-{state}") != state:
        login = storage.get_value(_login_key(state))
        if login is not None:
            params = dict(login.get("params") or {})
            params["lti1p3_new_window"] = "1"
            return pages.new_window(url_for("lti.login", _external=True) + "?" + urlencode(params))
        return _refuse("state", 400, "no state cookie")
    conf = DbToolConf(rt.db)
    message = _Launch(FlaskRequest(), conf, storage, state)
    try:
        message.validate()
    except LaunchRefused as exc:
        return _refuse(exc.code, exc.status, exc.detail)
    except LtiInvalidNonceException as exc:
        return _refuse("replayed", 400, str(exc))
    except LtiException as exc:
        return _refuse("invalid_launch", 400, str(exc))
    session = message.session
    assert session is not None
    body = cast(dict[str, Any], message.get_launch_data())
    if message.roster_due:
        _sync_roster(session)
    if body.get(CLAIM + "message_type") == deep_linking.MESSAGE_TYPE:
        dl_id = deep_linking.remember(
            storage, body, session.platform_id, session.deployment_id, session.user_sub
        )
        target = url_for(
            "lti.deep_link", slug=session.establishment_slug, context_id=session.context_id, dl_id=dl_id
        )
    elif session.role == "admin":
        target = url_for("lti.admin_home", slug=session.establishment_slug)
    else:
        target = url_for(
            f"lti.{session.role}_home", slug=session.establishment_slug, context_id=session.context_id
        )
    response = redirect(target, code=303)
    lti_session.set_cookie(response, session)
    return response


def _sync_roster(session: LtiSession) -> None:
    """A teacher's launch refreshes a stale roster (see acquis.lti.courses.ROSTER_EVERY).

    The sync runs inside the launch (bounded by the services' timeout) and its failure never
    fails the launch: it is kept on the course and shown on the teacher page.
    """
    rt = runtime()
    try:
        report = services.sync_roster(
            rt.db, session.establishment_id, session.platform_id, session.context_id
        )
        log.info("roster of %s synced at launch: %s learners", session.context_id, report.learners)
    except services.ServiceError as exc:
        log.warning("roster sync at launch failed for %s: %s", session.context_id, exc)


@bp.route("/e/<slug>/lti/course/<context_id>/deep-link/<dl_id>", methods=["GET", "POST"])
@lti_required("teacher", "admin")
def deep_link(slug: str, context_id: str, dl_id: str) -> Response:
    """The teacher's picker (GET), then the signed answer posted back to the platform (POST)."""
    from flask import g

    s: LtiSession = g.lti
    rt = runtime()
    storage = DbLaunchDataStorage(rt.db)
    if request.method == "GET":
        record = deep_linking.peek(storage, dl_id)
        if record is None or record.get("user_sub") != s.user_sub:
            return _refuse("deep_link", 400, "unknown or expired deep linking request")
        return pages.deep_link_picker(
            s.locale,
            url_for("lti.deep_link", slug=slug, context_id=context_id, dl_id=dl_id),
            csrf.FIELD,
            csrf.token(request.cookies.get(lti_session.COOKIE, "")),
            s.context_title,
        )
    csrf.check(lti_session.COOKIE)
    title = request.form.get("title", "").strip()
    if not title or len(title) > 255 or request.form.get("resource", "progress") != "progress":
        return _refuse("deep_link", 400, "title: 1 to 255 characters")
    record = deep_linking.peek(storage, dl_id)
    if record is None or record.get("user_sub") != s.user_sub or record.get("platform_id") != s.platform_id:
        return _refuse("deep_link", 400, "unknown or expired deep linking request")
    if deep_linking.take(storage, dl_id) is None:
        return _refuse("deep_link", 400, "deep linking request already answered")
    with rt.db.session() as db:
        platform = db.get(LtiPlatform, s.platform_id)
        if platform is None:
            return _refuse("deep_link", 400, "platform no longer registered")
        token = deep_linking.response_jwt(
            registration_of(db, platform), record, title, url_for("lti.launch", _external=True)
        )
    return pages.deep_link_return(s.locale, deep_linking.return_url(record), token)


@bp.get("/e/<slug>/lti/course/<context_id>/teacher")
@lti_required("teacher")
def teacher_home(slug: str, context_id: str) -> str:
    from flask import g

    from acquis.web import course_pages
    from acquis.web.messages import words

    saved = words(g.lti.locale)["saved"] if request.args.get("saved") else None
    return course_pages.teacher_page(slug, context_id, message=saved)


@bp.get("/e/<slug>/lti/course/<context_id>/student")
@lti_required("student")
def student_home(slug: str, context_id: str) -> str:
    from acquis.web import course_pages

    return course_pages.student_page(slug, context_id)


@bp.get("/e/<slug>/lti/admin")
@lti_required("admin")
def admin_home(slug: str) -> BaseResponse:
    """An LTI Administrator lands in the admin console of its own establishment."""
    return redirect(url_for("admin.establishment", slug=slug), code=303)


@bp.get("/e/<slug>/lti/register")
def register_without_code(slug: str) -> Response:
    """The registration URL lacks its code: say where the right one comes from, fetch nothing."""
    return _refuse(
        "registration",
        403,
        "demandez l'URL d'enregistrement à l'administrateur d'acquis / ask the acquis administrator "
        "for the registration URL: acquis lti registration-url " + slug,
    )


@bp.get("/e/<slug>/lti/register/<code>")
def register(slug: str, code: str) -> Response:
    """Dynamic registration, started by Moodle with openid_configuration and registration_token."""
    if not registration.check_code(crypto.configured_keys(), slug, code):
        return _refuse(
            "registration",
            403,
            "URL d'enregistrement invalide ou expirée / registration URL invalid or expired: "
            "acquis lti registration-url " + slug,
        )
    rt = runtime()
    base_url = url_for("lti.login", _external=True).removesuffix("/lti/login")
    try:
        with rt.db.session() as session:
            est = establishments.get(session, slug)
            done = registration.register(
                session,
                est,
                request.args.get("openid_configuration", ""),
                request.args.get("registration_token", ""),
                base_url,
            )
            name = est.name
    except NotFound:
        return _refuse("registration", 404, f"établissement inconnu / unknown establishment: {slug}")
    except InvalidInput as exc:
        return _refuse("registration", 400, str(exc))
    except Conflict as exc:
        return _refuse("registration", 409, str(exc))
    except registration.RegistrationError as exc:
        return _refuse("registration", 502, str(exc))
    log.info("lti platform %s registered for %s (deployment %s)", done.issuer, slug, done.deployment_id)
    return pages.registered(done.issuer, name, done.deployment_id)
