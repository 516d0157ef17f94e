"""Dynamic registration against an HTTP fake of Moodle 4.x's registration endpoints, then a real
launch through the registration it produced."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask, jsonify
from sqlalchemy import func, select

from acquis.core import crypto, establishments
from acquis.core.models import LtiPlatform
from acquis.core.runtime import Runtime
from acquis.lti import registration
from acquis.web.app import create_app
from tests import live
from tests.fakes.lti_platform import Browser, FakePlatform, rsa_pair
from tests.fakes.moodle_registration import TOOL_CONFIGURATION, MoodleRegistration


@dataclass
class RegEnv:
    runtime: Runtime
    tool_url: str
    platform: FakePlatform
    moodle: MoodleRegistration
    evil_url: str

    def register_url(self, slug: str = "lycee-a") -> str:
        """What `acquis lti registration-url` gives the establishment's admin."""
        keys = crypto.load_keys(self.runtime.settings, create=False)
        return f"{self.tool_url}/e/{slug}/lti/register/{registration.registration_code(keys, slug)}"

    def platforms(self) -> list[tuple[str, str, str, str, list[str]]]:
        with self.runtime.db.session() as session:
            rows = session.scalars(select(LtiPlatform).order_by(LtiPlatform.id)).all()
            return [
                (
                    p.issuer,
                    p.client_id,
                    p.establishment.slug,
                    p.registered_by,
                    [d.deployment_id for d in p.deployments],
                )
                for p in rows
            ]


def _evil_app(evil: dict[str, str]) -> Flask:
    """A server handing out forged configurations (the URL is given to the tool in a query string)."""
    app = Flask("evil")

    @app.get("/not-under-issuer")
    def not_under_issuer() -> object:
        return jsonify(
            issuer="https://moodle.univ.fr",
            authorization_endpoint="https://moodle.univ.fr/mod/lti/auth.php",
            token_endpoint="https://moodle.univ.fr/mod/lti/token.php",
            jwks_uri="https://moodle.univ.fr/mod/lti/certs.php",
            registration_endpoint="https://moodle.univ.fr/mod/lti/openid-registration.php",
        )

    @app.get("/steals-token")
    def steals_token() -> object:
        base = evil["base"]
        return jsonify(
            issuer=base,
            authorization_endpoint=base + "/auth",
            token_endpoint=base + "/token",
            jwks_uri=base + "/certs",
            registration_endpoint="http://198.51.100.7/collect",
        )

    @app.get("/not-json")
    def not_json() -> object:
        return "<html>Moodle maintenance</html>"

    return app


@pytest.fixture
def reg_env(runtime: Runtime) -> Iterator[RegEnv]:
    platform = FakePlatform(client_id="", deployment_id="")
    moodle = MoodleRegistration(platform)
    evil: dict[str, str] = {}
    with runtime.db.session() as session:
        establishments.create(session, "lycee-a", "Lycée A")
        establishments.create(session, "lycee-b", "Lycée B")
    with (
        live.serve(create_app(runtime)) as tool_url,
        live.serve(platform.app) as p_url,
        live.serve(_evil_app(evil)) as evil_url,
    ):
        platform.base_url, platform.tool_url = p_url, tool_url
        evil["base"] = evil_url
        yield RegEnv(runtime, tool_url, platform, moodle, evil_url)


def test_moodle_registration_then_launch(reg_env: RegEnv) -> None:
    browser = Browser()
    page = browser.http.get(reg_env.moodle.start_url(reg_env.register_url()), timeout=20)
    assert page.status_code == 200, page.text
    assert "org.imsglobal.lti.close" in page.text and "postMessage" in page.text
    assert "Gérer les outils" in page.text

    [tool] = reg_env.moodle.types
    assert tool.state == "pending"
    sent = tool.registration
    assert sent["redirect_uris"] == [reg_env.tool_url + "/lti/launch"]
    assert sent["initiate_login_uri"] == reg_env.tool_url + "/lti/login"
    assert sent["jwks_uri"] == reg_env.tool_url + "/lti/jwks"
    conf = sent[TOOL_CONFIGURATION]
    assert conf["domain"] == reg_env.tool_url.split("://", 1)[1]
    assert conf["target_link_uri"] == reg_env.tool_url + "/lti/launch"
    assert [m["type"] for m in conf["messages"]] == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert {"iss", "sub", "name", "email"} <= set(conf["claims"])
    # Grade sync with column management, and the roster: the services acquis calls.
    assert set(sent["scope"].split()) == {
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
    }

    p = reg_env.platform
    assert reg_env.platforms() == [(p.base_url, tool.client_id, "lycee-a", "dynamic", [str(tool.type_id)])]

    # The JWKS URL Moodle was given serves a key, and a launch through the new registration works.
    assert requests.get(sent["jwks_uri"], timeout=10).json()["keys"]
    p.client_id, p.deployment_id = tool.client_id, str(tool.type_id)
    landed = Browser().launch(p)
    assert landed.status_code == 200, landed.text
    assert "/e/lycee-a/lti/course/" in landed.url


def test_each_establishment_gets_its_own_registration(reg_env: RegEnv) -> None:
    for slug in ("lycee-a", "lycee-b"):
        page = Browser().http.get(reg_env.moodle.start_url(reg_env.register_url(slug)), timeout=20)
        assert page.status_code == 200, page.text
    rows = reg_env.platforms()
    assert [r[2] for r in rows] == ["lycee-a", "lycee-b"]
    assert rows[0][1] != rows[1][1] and rows[0][4] != rows[1][4]


def test_a_used_token_is_refused_by_moodle_and_nothing_is_stored(reg_env: RegEnv) -> None:
    token = reg_env.moodle.registration_token()
    params = {
        "openid_configuration": reg_env.platform.base_url + "/mod/lti/openid-configuration.php",
        "registration_token": token,
    }
    url = reg_env.register_url() + "?" + urlencode(params)
    assert requests.get(url, timeout=20).status_code == 200
    before = reg_env.platforms()
    again = requests.get(url, timeout=20)
    assert again.status_code == 502
    assert again.headers["X-Acquis-Error"] == "registration"
    assert "token_already_used" in again.text
    assert token not in again.text
    assert reg_env.platforms() == before


def test_a_token_not_signed_by_moodle(reg_env: RegEnv) -> None:
    forged = reg_env.platform.sign({"sub": "x" * 15, "scope": "reg"}, key=rsa_pair()[0])
    params = {
        "openid_configuration": reg_env.platform.base_url + "/mod/lti/openid-configuration.php",
        "registration_token": forged,
    }
    response = requests.get(reg_env.register_url() + "?" + urlencode(params), timeout=20)
    assert response.status_code == 502
    assert reg_env.platforms() == [] and reg_env.moodle.types == []


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"registration_token": "t"}, 400, "openid_configuration"),
        ({"openid_configuration": "CONF"}, 400, "registration_token"),
        ({"openid_configuration": "ftp://moodle/conf", "registration_token": "t"}, 400, "http(s)"),
        ({"openid_configuration": "EVIL/not-under-issuer", "registration_token": "t"}, 502, "issuer"),
        (
            {"openid_configuration": "EVIL/steals-token", "registration_token": "t"},
            502,
            "registration endpoint",
        ),
        ({"openid_configuration": "EVIL/not-json", "registration_token": "t"}, 502, "not JSON"),
        ({"openid_configuration": "EVIL/missing", "registration_token": "t"}, 502, "HTTP 404"),
    ],
)
def test_bad_registration_requests_store_nothing(
    reg_env: RegEnv, params: dict[str, str], status: int, reason: str
) -> None:
    conf = reg_env.platform.base_url + "/mod/lti/openid-configuration.php"
    resolved = {k: v.replace("CONF", conf).replace("EVIL", reg_env.evil_url) for k, v in params.items()}
    response = requests.get(reg_env.register_url() + "?" + urlencode(resolved), timeout=20)
    assert response.status_code == status, response.text
    assert response.headers["X-Acquis-Error"] == "registration"
    assert reason in response.text
    assert reg_env.platforms() == [] and reg_env.moodle.types == []


def test_unknown_establishment(reg_env: RegEnv) -> None:
    response = Browser().http.get(reg_env.moodle.start_url(reg_env.register_url("nowhere")), timeout=20)
    assert response.status_code == 404
    assert "nowhere" in response.text
    assert reg_env.moodle.types == [] and reg_env.moodle.configuration_requests == 0
    with reg_env.runtime.db.session() as session:
        assert session.scalar(select(func.count()).select_from(LtiPlatform)) == 0


@pytest.mark.parametrize("how", ["no code", "another establishment's", "expired", "tampered"])
def test_registration_needs_a_code_from_the_admin_else_nothing_is_fetched_or_stored(
    reg_env: RegEnv, how: str
) -> None:
    """Without the code, anyone could make acquis fetch any URL or plant a platform they run."""
    keys = crypto.load_keys(reg_env.runtime.settings, create=False)
    base = f"{reg_env.tool_url}/e/lycee-a/lti/register"
    url = {
        "no code": base,
        "another establishment's": f"{base}/{registration.registration_code(keys, 'lycee-b')}",
        "expired": f"{base}/{registration.registration_code(keys, 'lycee-a', hours=-1)}",
        "tampered": f"{base}/{registration.registration_code(keys, 'lycee-a')[:-2]}xx",
    }[how]
    before = reg_env.moodle.configuration_requests
    params = {
        "openid_configuration": reg_env.platform.base_url + "/mod/lti/openid-configuration.php",
        "registration_token": reg_env.moodle.registration_token(),
    }
    response = requests.get(url, params=params, timeout=10, allow_redirects=False)
    assert response.status_code == 403
    assert "acquis lti registration-url lycee-a" in response.text
    assert reg_env.moodle.configuration_requests == before  # nothing was fetched
    assert reg_env.platforms() == []  # nothing was stored
