"""The full OIDC login + launch, driven over HTTP by an independent LTI 1.3 platform
implementation (lti1p3platform) against the tool served on a real port."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pytest

from tests.fakes.lti_platform import ADMIN, INSTRUCTOR, LEARNER, Browser

if TYPE_CHECKING:
    from tests.fakes.lti_env import LtiEnv

pytest_plugins = ["tests.fakes.lti_env"]  # the lti_env and browser fixtures


def test_student_launch_lands_on_the_student_page(lti_env: LtiEnv, browser: Browser) -> None:
    response = browser.launch(lti_env.platform)
    assert response.status_code == 200, response.text
    assert response.url.endswith("/e/lycee-a/lti/course/course-7/student")
    assert "Mon espace" in response.text
    assert "Camille Martin" in response.text
    assert "Biologie cellulaire" in response.text


def test_teacher_launch_in_english(lti_env: LtiEnv, browser: Browser) -> None:
    lti_env.platform.scenario.roles = [INSTRUCTOR]
    lti_env.platform.scenario.locale = "en-GB"
    response = browser.launch(lti_env.platform)
    assert response.status_code == 200, response.text
    assert response.url.endswith("/e/lycee-a/lti/course/course-7/teacher")
    assert "Teacher area" in response.text


def test_administrator_lands_on_the_establishment_admin_page(lti_env: LtiEnv, browser: Browser) -> None:
    lti_env.platform.scenario.roles = [ADMIN, INSTRUCTOR]
    response = browser.launch(lti_env.platform)
    assert response.status_code == 200, response.text
    assert response.url.endswith("/admin/e/lycee-a/")  # through /e/lycee-a/lti/admin
    assert "Administration de l'établissement" in html.unescape(response.text)


def test_each_platform_lands_in_its_own_establishment(lti_env: LtiEnv, browser: Browser) -> None:
    response = browser.launch(lti_env.other)
    assert response.status_code == 200, response.text
    assert "/e/lycee-b/" in response.url


def test_login_accepts_post_as_well_as_get(lti_env: LtiEnv, browser: Browser) -> None:
    p = lti_env.platform
    params = {
        "iss": p.issuer,
        "login_hint": "u-42",
        "client_id": p.client_id,
        "target_link_uri": lti_env.tool_url + "/lti/launch",
        "lti_message_hint": "rl-1",
    }
    for method in ("get", "post"):
        kwargs = {"params": params} if method == "get" else {"data": params}
        response = getattr(browser.http, method)(
            lti_env.tool_url + "/lti/login", allow_redirects=False, timeout=10, **kwargs
        )
        assert response.status_code == 302
        assert response.headers["Location"].startswith(p.auth_login_url + "?")
        assert "nonce=" in response.headers["Location"]
        assert any(c.startswith("lti1p3-state-") for c in response.cookies.keys())  # noqa: SIM118 (names, not Cookie objects)


def test_launch_state_lives_in_the_database_not_in_the_process(lti_env: LtiEnv, browser: Browser) -> None:
    """Login on one app, launch on another built from the same database (two web processes)."""
    from acquis.web.app import create_app
    from tests import live

    form = browser.login(lti_env.platform)
    with live.serve(create_app(lti_env.runtime)) as second:
        form.action = second + "/lti/launch"
        response = browser.submit(form)
    assert response.status_code == 200, response.text
    assert "Mon espace" in response.text


def test_unknown_role_is_refused_with_a_page(lti_env: LtiEnv, browser: Browser) -> None:
    lti_env.platform.scenario.roles = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"]
    before = lti_env.stored_keys()
    form = browser.login(lti_env.platform)
    after_login = lti_env.stored_keys()
    response = browser.submit(form)
    assert response.status_code == 403
    assert response.headers["X-Acquis-Error"] == "role"
    assert "rôle" in response.text
    assert lti_env.stored_keys() == after_login and before <= after_login
    assert "acquis_lti" not in browser.http.cookies


def test_learner_role_is_the_short_form_too(lti_env: LtiEnv, browser: Browser) -> None:
    lti_env.platform.scenario.roles = [LEARNER]
    assert browser.launch(lti_env.platform).status_code == 200


def test_platform_key_set_is_cached_and_refetched_when_the_platform_rotates(
    lti_env: LtiEnv, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from acquis.lti import views
    from tests.fakes.lti_platform import rsa_pair

    monkeypatch.setattr(views.KEY_SETS, "refetch_after", 0.0)  # no need to wait out the rate limit
    p = lti_env.platform
    assert browser.launch(p).status_code == 200
    assert Browser().launch(p).status_code == 200
    assert p.jwks_fetches == 1  # the second launch used the cached key set

    p.private_pem, p.public_pem = rsa_pair()  # the platform rotates its key: a kid not in the cache
    assert Browser().launch(p).status_code == 200
    assert p.jwks_fetches == 2
