"""An LTI 1.3 platform for tests, built on lti1p3platform (an implementation independent of
PyLTI1p3), served over HTTP like a Moodle site.

It starts launches (third-party initiated login towards the tool), answers the tool's OIDC
authentication request with an auto-submitted form carrying a signed id_token, and publishes its
key set. What the next launch says (user, roles, course, locale) is set on ``scenario``.
A ``Browser`` follows the redirects and submits the forms the way a browser would.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, redirect, request
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest

from tests.fakes.lti_services import Services, add_services

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
INSTRUCTOR = LIS + "membership#Instructor"
LEARNER = LIS + "membership#Learner"
ADMIN = LIS + "institution/person#Administrator"


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class Scenario:
    user_id: str = "u-42"
    name: str = "Camille Martin"
    roles: list[str] = field(default_factory=lambda: [LEARNER])
    context_id: str = "course-7"
    context_title: str = "Biologie cellulaire"
    locale: str | None = None
    extra_claims: dict[str, Any] = field(default_factory=dict)
    services: bool = False  # offer AGS and NRPS in the launch, as Moodle does when enabled
    deep_link: bool = False  # a deep linking request instead of a resource link launch
    dl_data: dict[str, Any] = field(default_factory=lambda: {"opaque": "moodle-section-3"})


class _Req(Request):
    def build_metadata(self, req: Any) -> TRequest:
        return {
            "method": req.method,
            "form_data": dict(req.form),
            "get_data": dict(req.args),
            "headers": dict(req.headers),
            "content_type": req.content_type,
            "path": req.path,
            "json": None,
        }


class FakePlatform:
    def __init__(self, client_id: str = "acquis-client", deployment_id: str = "dep-1") -> None:
        self.client_id = client_id
        self.deployment_id = deployment_id
        self.private_pem, self.public_pem = rsa_pair()
        self.base_url = ""  # set once served
        self.tool_url = ""
        self.scenario = Scenario()
        self.services = Services()
        self.jwks_fetches = 0
        self.lineitems_url: Any = None  # set by add_services: context id -> URL
        self.members_url: Any = None
        self.app = self._make_app()

    # URLs the tool registers for this platform
    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def auth_login_url(self) -> str:
        return self.base_url + "/mod/lti/auth.php"

    @property
    def token_url(self) -> str:
        return self.base_url + "/mod/lti/token.php"

    @property
    def jwks_url(self) -> str:
        return self.base_url + "/mod/lti/certs.php"

    def registration(self) -> Registration:
        return (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_oidc_login_url(self.tool_url + "/lti/login")
            .set_launch_url(self.tool_url + "/lti/launch")
            .set_deeplink_launch_url(self.tool_url + "/lti/launch")
            .set_tool_key_set_url(self.tool_url + "/lti/jwks")
            .set_platform_public_key(self.public_pem)
            .set_platform_private_key(self.private_pem)
        )

    @property
    def kid(self) -> str:
        kid = self.registration().get_kid()
        assert kid
        return kid

    def sign(self, claims: dict[str, Any], key: str | None = None, kid: str | None = None) -> str:
        """Sign an id_token directly (security tests tamper with what the platform would send)."""
        return jwt.encode(
            claims, key or self.private_pem, algorithm="RS256", headers={"kid": kid or self.kid}
        )

    def claims(self, nonce: str, **overrides: Any) -> dict[str, Any]:
        """The claims this platform puts in a resource link launch for the current scenario."""
        now = int(time.time())
        s = self.scenario
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "azp": self.client_id,
            "sub": s.user_id,
            "name": s.name,
            "nonce": nonce,
            "iat": now,
            "exp": now + 300,
            "https://purl.imsglobal.org/spec/lti/claim/message_type": "LtiResourceLinkRequest",
            "https://purl.imsglobal.org/spec/lti/claim/version": "1.3.0",
            "https://purl.imsglobal.org/spec/lti/claim/deployment_id": self.deployment_id,
            "https://purl.imsglobal.org/spec/lti/claim/target_link_uri": self.tool_url + "/lti/launch",
            "https://purl.imsglobal.org/spec/lti/claim/resource_link": {"id": "rl-1"},
            "https://purl.imsglobal.org/spec/lti/claim/roles": s.roles,
            "https://purl.imsglobal.org/spec/lti/claim/context": {
                "id": s.context_id,
                "title": s.context_title,
            },
        }
        if s.locale:
            claims["https://purl.imsglobal.org/spec/lti/claim/launch_presentation"] = {"locale": s.locale}
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def _make_app(self) -> Flask:
        app = Flask("fake-platform")
        fake = self

        class Conf(LTI1P3PlatformConfAbstract):
            def init_platform_config(self, **kwargs: Any) -> None:
                pass

            def get_registration_by_params(self, **kwargs: Any) -> Registration:
                return fake.registration()

        class Login(OIDCLoginAbstract):
            def set_lti_message_hint(self, **kwargs: Any) -> None:
                self._lti_message_hint = kwargs["lti_message_hint"]

            def get_redirect(self, url: str) -> Any:
                return redirect(url)

        class Launch(LTIAdvantageMessageLaunchAbstract):
            def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
                # What Moodle checks too: the tool may only ask to come back to its registered URL.
                if preflight_response.get("redirect_uri") != fake.tool_url + "/lti/launch":
                    raise ValueError("redirect_uri is not registered")
                s = fake.scenario
                self.set_user_data(s.user_id, s.roles, full_name=s.name)
                self.set_resource_link_claim("rl-1", title="acquis")
                self.set_launch_context_claim(s.context_id, context_title=s.context_title)
                if s.locale:
                    self.set_extra_claims(
                        {
                            "https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {
                                "locale": s.locale
                            }
                        }
                    )
                if s.services:
                    self.set_ags(
                        fake.lineitems_url(s.context_id) + "?type_id=1", allow_creating_lineitems=True
                    )
                    self.set_nrps(fake.members_url(s.context_id))
                if s.deep_link:
                    self.set_dl(
                        fake.base_url + "/mod/lti/contentitem_return.php",
                        title="acquis",
                        accept_types={"ltiResourceLink"},
                        extra_data=s.dl_data,
                    )
                if s.extra_claims:
                    self.set_extra_claims(s.extra_claims)

            def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> Any:
                inputs = "".join(
                    f'<input type="hidden" name="{k}" value="{html.escape(str(launch_data[k]))}">'
                    for k in ("id_token", "state")
                )
                action = html.escape(str(launch_data["launch_url"]))
                return f'<form id="lti" method="post" action="{action}">{inputs}</form>'

        @app.get("/start")
        def start() -> Any:
            login = Login(_Req(request), Conf())
            login.set_lti_message_hint(lti_message_hint="rl-1")
            return login.initiate_login(fake.scenario.user_id)

        @app.route("/mod/lti/auth.php", methods=["GET", "POST"])
        def auth() -> Any:
            try:
                return Launch(_Req(request), Conf()).lti_launch()
            except Exception as exc:  # a refusal by the platform, shown as Moodle would
                return Response(f"platform refused: {exc!r}", status=400)

        @app.get("/mod/lti/certs.php")
        def certs() -> Any:
            fake.jwks_fetches += 1
            return jsonify(keys=fake.registration().get_jwks())

        add_services(app, fake, Conf)
        return app


_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
_ACTION = re.compile(r'<form id="lti" method="post" action="([^"]+)">')


@dataclass
class AuthForm:
    action: str
    fields: dict[str, str]


class Browser:
    """A requests session that behaves as the browser in an LTI launch."""

    def __init__(self) -> None:
        self.http = requests.Session()

    def login(self, platform: FakePlatform) -> AuthForm:
        """Start a launch at the platform and follow it to the auto-submitted launch form."""
        response = self.http.get(platform.base_url + "/start", timeout=10)
        assert response.status_code == 200, response.text
        action = _ACTION.search(response.text)
        assert action, response.text
        return AuthForm(
            html.unescape(action.group(1)),
            {k: html.unescape(v) for k, v in _INPUT.findall(response.text)},
        )

    def submit(self, form: AuthForm, **override: str) -> requests.Response:
        return self.http.post(form.action, data={**form.fields, **override}, timeout=10)

    def launch(self, platform: FakePlatform) -> requests.Response:
        return self.submit(self.login(platform))
