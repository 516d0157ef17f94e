"""The tool's keys: encrypted at rest, published as a JWKS, rotated with `acquis lti rotate-key`;
and the cookies of a launch behind a TLS-terminating proxy."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import jwt
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from acquis.cli.main import cli
from acquis.core.db import Database
from acquis.core.runtime import Runtime
from acquis.lti import keys
from acquis.web.app import create_app
from tests.conftest import TEST_KEY

if TYPE_CHECKING:
    from tests.fakes.lti_env import LtiEnv
    from tests.fakes.lti_platform import Browser

pytest_plugins = ["tests.fakes.lti_env"]


def _rotate(db: Database, tmp_path: Path) -> str:
    env = {
        "ACQUIS_DATABASE_URL": db.settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_PUBLIC_URL": "https://acquis.univ.fr",
    }
    result = CliRunner().invoke(cli, ["lti", "rotate-key"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_jwks_publishes_the_current_key_then_current_and_previous(
    runtime: Runtime, db: Database, tmp_path: Path
) -> None:
    client = create_app(runtime).test_client()
    first = client.get("/lti/jwks").get_json()["keys"]
    assert len(first) == 1 and first[0]["alg"] == "RS256" and first[0]["use"] == "sig"
    assert "d" not in first[0] and "p" not in first[0]  # public half only

    output = _rotate(db, tmp_path)
    assert first[0]["kid"] in output
    second = client.get("/lti/jwks").get_json()["keys"]
    assert [k["kid"] for k in second][1] == first[0]["kid"]
    assert len(second) == 2

    _rotate(db, tmp_path)
    third = client.get("/lti/jwks").get_json()["keys"]
    assert len(third) == 2
    assert first[0]["kid"] not in {k["kid"] for k in third}  # two rotations old: retired
    assert third[1]["kid"] == second[0]["kid"]


def test_current_key_signs_what_the_jwks_verifies(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        signing = keys.current(session)
        published = keys.jwks(session)["keys"]
    token = jwt.encode({"x": 1}, signing.private_pem, algorithm="RS256", headers={"kid": signing.kid})
    jwk = next(k for k in published if k["kid"] == jwt.get_unverified_header(token)["kid"])
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"]) == {"x": 1}


def test_private_keys_are_encrypted_at_rest(runtime: Runtime) -> None:
    with runtime.db.session() as session:
        keys.current(session)
    with runtime.db.engine.connect() as conn:
        raw = conn.execute(text("SELECT private FROM lti_tool_key")).scalar_one()
    assert "PRIVATE KEY" not in raw and raw.startswith("gAAAA")  # a Fernet token


def test_cli_lists_keys_without_private_halves(db: Database, tmp_path: Path) -> None:
    _rotate(db, tmp_path)
    env = {
        "ACQUIS_DATABASE_URL": db.settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
    }
    result = CliRunner().invoke(cli, ["lti", "keys"], env=env, catch_exceptions=False)
    assert result.exit_code == 0 and "\tcurrent\t" in result.output
    assert "PRIVATE" not in result.output


def test_cookies_are_samesite_none_secure_behind_a_tls_proxy(
    lti_env: LtiEnv, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = lti_env.platform
    params = {"iss": p.issuer, "login_hint": "u-42", "client_id": p.client_id, "lti_message_hint": "rl-1"}
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "acquis.univ.fr"}

    plain = create_app(lti_env.runtime).test_client()
    cookie = plain.get("/lti/login", query_string=params, headers=https).headers["Set-Cookie"]
    assert "Secure" not in cookie  # the proxy is not trusted unless configured

    trusting = dataclasses.replace(
        lti_env.runtime, settings=dataclasses.replace(lti_env.runtime.settings, trusted_proxies=1)
    )
    proxied = create_app(trusting).test_client()
    response = proxied.get("/lti/login", query_string=params, headers=https)
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "SameSite=None" in cookie and "HttpOnly" in cookie
    assert "redirect_uri=https%3A%2F%2Facquis.univ.fr%2Flti%2Flaunch" in response.headers["Location"]
