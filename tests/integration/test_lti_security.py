"""Launches that must be refused: each gets a clear error page, and nothing is stored.

The login step is always the real one (state cookie, nonce issued by the tool); the id_token is
then signed by the platform's key (or another) with the one claim under test changed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import jwt
import requests

from tests.fakes.lti_platform import INSTRUCTOR, AuthForm, Browser, FakePlatform, rsa_pair

if TYPE_CHECKING:
    from tests.fakes.lti_env import LtiEnv

pytest_plugins = ["tests.fakes.lti_env"]

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


def _nonce(form: AuthForm) -> str:
    return str(jwt.decode(form.fields["id_token"], options={"verify_signature": False})["nonce"])


def _tampered_launch(
    env: LtiEnv,
    browser: Browser,
    platform: FakePlatform | None = None,
    key: str | None = None,
    kid: str | None = None,
    **claims: Any,
) -> requests.Response:
    """Real login, then a launch whose id_token has ``claims`` changed (None removes one)."""
    platform = platform or env.platform
    form = browser.login(platform)
    token = platform.sign(platform.claims(_nonce(form), **claims), key=key, kid=kid)
    before = env.stored_keys()
    response = browser.submit(form, id_token=token)
    if response.status_code >= 400:
        assert env.stored_keys() == before, "a refused launch stored something"
        assert "acquis_lti" not in browser.http.cookies
    return response


def _refused(response: requests.Response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.headers.get("X-Acquis-Error") == code, response.text
    assert "text/html" in response.headers["Content-Type"]


def test_the_untampered_token_is_accepted(lti_env: LtiEnv, browser: Browser) -> None:
    """The control for every test below: the same path with nothing changed succeeds."""
    response = _tampered_launch(lti_env, browser)
    assert response.status_code == 200, response.text
    assert "acquis_lti" in browser.http.cookies


def test_bad_signature(lti_env: LtiEnv, browser: Browser) -> None:
    other_private, _ = rsa_pair()
    response = _tampered_launch(lti_env, browser, key=other_private)
    _refused(response, "invalid_launch")
    assert "Signature verification failed" in response.text
    assert "vérifié" in response.text and "verified" in response.text


def test_unknown_kid(lti_env: LtiEnv, browser: Browser) -> None:
    response = _tampered_launch(lti_env, browser, kid="not-a-published-kid")
    _refused(response, "invalid_launch")
    assert "Unable to find public key" in response.text


def test_wrong_issuer(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(_tampered_launch(lti_env, browser, iss="https://moodle.evil.example"), "invalid_launch")


def test_wrong_audience(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(_tampered_launch(lti_env, browser, aud="someone-else", azp="someone-else"), "invalid_launch")


def test_several_audiences_need_azp_naming_the_tool(lti_env: LtiEnv, browser: Browser) -> None:
    client = lti_env.platform.client_id
    _refused(
        _tampered_launch(lti_env, browser, aud=[client, "another-tool"], azp="another-tool"), "invalid_launch"
    )


def test_another_platforms_client_id_is_not_accepted(lti_env: LtiEnv, browser: Browser) -> None:
    """The other establishment's client id, in a token from this platform: no registration matches."""
    _refused(_tampered_launch(lti_env, browser, aud=lti_env.other.client_id), "invalid_launch")


def test_unknown_deployment_id(lti_env: LtiEnv, browser: Browser) -> None:
    response = _tampered_launch(lti_env, browser, **{CLAIM + "deployment_id": "dep-unknown"})
    _refused(response, "invalid_launch")
    assert "dep-unknown" in response.text


def test_deployment_of_another_establishment(lti_env: LtiEnv, browser: Browser) -> None:
    response = _tampered_launch(lti_env, browser, **{CLAIM + "deployment_id": lti_env.other.deployment_id})
    _refused(response, "invalid_launch")


def test_expired_token(lti_env: LtiEnv, browser: Browser) -> None:
    now = int(time.time())
    response = _tampered_launch(lti_env, browser, iat=now - 900, exp=now - 600)
    _refused(response, "invalid_launch")
    assert "expired" in response.text


def test_token_issued_in_the_future(lti_env: LtiEnv, browser: Browser) -> None:
    now = int(time.time())
    response = _tampered_launch(lti_env, browser, iat=now + 3600, exp=now + 3900)
    _refused(response, "invalid_launch")
    assert "not yet valid" in response.text


def test_token_without_expiry(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(_tampered_launch(lti_env, browser, exp=None), "invalid_launch")


def test_replayed_launch(lti_env: LtiEnv, browser: Browser) -> None:
    form = browser.login(lti_env.platform)
    assert browser.submit(form).status_code == 200
    before = lti_env.stored_keys()
    _refused(browser.submit(form), "replayed")
    assert lti_env.stored_keys() == before


def test_replayed_nonce_in_a_new_login(lti_env: LtiEnv, browser: Browser) -> None:
    first = browser.login(lti_env.platform)
    assert browser.submit(first).status_code == 200
    used_nonce = _nonce(first)
    second = browser.login(lti_env.platform)
    token = lti_env.platform.sign(lti_env.platform.claims(used_nonce))
    before = lti_env.stored_keys()
    _refused(browser.submit(second, id_token=token), "replayed")
    assert lti_env.stored_keys() == before


def test_nonce_of_another_login(lti_env: LtiEnv, browser: Browser) -> None:
    """Both logins are live; the token of one may not complete the other."""
    first = browser.login(lti_env.platform)
    second = browser.login(lti_env.platform)
    token = lti_env.platform.sign(lti_env.platform.claims(_nonce(first)))
    before = lti_env.stored_keys()
    _refused(browser.submit(second, id_token=token), "state")
    assert lti_env.stored_keys() == before


def test_missing_state(lti_env: LtiEnv, browser: Browser) -> None:
    form = browser.login(lti_env.platform)
    before = lti_env.stored_keys()
    response = browser.http.post(form.action, data={"id_token": form.fields["id_token"]}, timeout=10)
    _refused(response, "state")
    assert lti_env.stored_keys() == before


def test_unknown_state(lti_env: LtiEnv, browser: Browser) -> None:
    form = browser.login(lti_env.platform)
    before = lti_env.stored_keys()
    _refused(browser.submit(form, state="state-forged"), "state")
    assert lti_env.stored_keys() == before


def test_missing_id_token(lti_env: LtiEnv, browser: Browser) -> None:
    form = browser.login(lti_env.platform)
    _refused(browser.http.post(form.action, data={"state": form.fields["state"]}, timeout=10), "claims")


def test_state_cookie_blocked_offers_a_new_window_that_works(lti_env: LtiEnv, browser: Browser) -> None:
    """Third-party cookies blocked in Moodle's iframe: the launch arrives without the state cookie."""
    form = browser.login(lti_env.platform)
    before = lti_env.stored_keys()
    response = requests.post(form.action, data=form.fields, timeout=10)  # no cookie jar
    assert response.status_code == 200
    assert response.headers["X-Acquis-Error"] == "new_window"
    assert lti_env.stored_keys() == before
    link = response.text.split('id="open" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert "lti1p3_new_window=1" in link and 'target="_blank"' in response.text
    # The new window is first-party: its own login sets the cookie, and the launch goes through.
    window = Browser()
    auth = window.http.get(link, timeout=10)
    assert auth.status_code == 200, auth.text
    from tests.fakes.lti_platform import _ACTION, _INPUT

    action = _ACTION.search(auth.text)
    assert action
    landed = window.http.post(action.group(1), data=dict(_INPUT.findall(auth.text)), timeout=10)
    assert landed.status_code == 200, landed.text
    assert "Mon espace" in landed.text


def _deep_linking_claims(env: LtiEnv, accept_types: list[str], return_url: str = "") -> dict[str, Any]:
    return {
        CLAIM + "message_type": "LtiDeepLinkingRequest",
        "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings": {
            "deep_link_return_url": return_url or env.platform.base_url + "/dl",
            "accept_types": accept_types,
            "accept_presentation_document_targets": ["iframe"],
        },
    }


def test_students_cannot_deep_link(lti_env: LtiEnv, browser: Browser) -> None:
    response = _tampered_launch(lti_env, browser, **_deep_linking_claims(lti_env, ["ltiResourceLink"]))
    _refused(response, "role", 403)
    assert "deep linking" in response.text


def test_deep_linking_that_cannot_take_a_resource_link_is_refused(lti_env: LtiEnv, browser: Browser) -> None:
    lti_env.platform.scenario.roles = [INSTRUCTOR]
    response = _tampered_launch(lti_env, browser, **_deep_linking_claims(lti_env, ["file", "html"]))
    _refused(response, "invalid_launch")
    assert "resource link" in response.text


def test_deep_linking_return_url_must_be_a_web_address(lti_env: LtiEnv, browser: Browser) -> None:
    """The picker's form posts there: a javascript: URL would run in acquis' page."""
    lti_env.platform.scenario.roles = [INSTRUCTOR]
    claims = _deep_linking_claims(lti_env, ["ltiResourceLink"], return_url="javascript:alert(1)")
    response = _tampered_launch(lti_env, browser, **claims)
    _refused(response, "claims")
    assert "deep_link_return_url" in response.text


def test_unknown_message_type(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(
        _tampered_launch(lti_env, browser, **{CLAIM + "message_type": "LtiSomethingElse"}), "invalid_launch"
    )


def test_missing_user(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(_tampered_launch(lti_env, browser, sub=None), "invalid_launch")


def test_missing_roles(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(_tampered_launch(lti_env, browser, **{CLAIM + "roles": None}), "invalid_launch")


def test_missing_resource_link(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(_tampered_launch(lti_env, browser, **{CLAIM + "resource_link": None}), "invalid_launch")


def test_missing_course_for_a_student(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(_tampered_launch(lti_env, browser, **{CLAIM + "context": None}), "claims")


def test_wrong_version(lti_env: LtiEnv, browser: Browser) -> None:
    _refused(_tampered_launch(lti_env, browser, **{CLAIM + "version": "1.1"}), "invalid_launch")


def test_student_cannot_open_teacher_pages(lti_env: LtiEnv, browser: Browser) -> None:
    assert browser.launch(lti_env.platform).status_code == 200
    response = browser.http.get(lti_env.tool_url + "/e/lycee-a/lti/course/course-7/teacher", timeout=10)
    _refused(response, "forbidden", 403)
    assert "Vous n'avez pas accès" in response.text or "Vous n&#39;avez pas accès" in response.text


def test_teacher_cannot_open_another_course(lti_env: LtiEnv, browser: Browser) -> None:
    lti_env.platform.scenario.roles = [INSTRUCTOR]
    assert browser.launch(lti_env.platform).status_code == 200
    response = browser.http.get(lti_env.tool_url + "/e/lycee-a/lti/course/course-8/teacher", timeout=10)
    _refused(response, "forbidden", 403)


def test_user_of_one_establishment_cannot_reach_another(lti_env: LtiEnv, browser: Browser) -> None:
    assert browser.launch(lti_env.platform).status_code == 200
    for path in ("/e/lycee-b/lti/course/course-7/student", "/e/lycee-b/lti/admin"):
        _refused(browser.http.get(lti_env.tool_url + path, timeout=10), "forbidden", 403)


def test_pages_need_a_session(lti_env: LtiEnv) -> None:
    response = requests.get(lti_env.tool_url + "/e/lycee-a/lti/course/course-7/student", timeout=10)
    _refused(response, "no_session", 401)


def test_a_forged_session_cookie_is_ignored(lti_env: LtiEnv, browser: Browser) -> None:
    assert browser.launch(lti_env.platform).status_code == 200
    genuine = browser.http.cookies["acquis_lti"]
    student_page = lti_env.tool_url + "/e/lycee-a/lti/course/course-7/student"
    copied = Browser()
    copied.http.cookies.set("acquis_lti", genuine)
    assert copied.http.get(student_page, timeout=10).status_code == 200  # the control
    forged = Browser()
    forged.http.cookies.set("acquis_lti", genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"))
    _refused(forged.http.get(student_page, timeout=10), "no_session", 401)


def test_concurrent_replays_let_exactly_one_launch_through(lti_env: LtiEnv, browser: Browser) -> None:
    """Several web workers receive the same launch at once: the database decides, once."""
    from concurrent.futures import ThreadPoolExecutor

    form = browser.login(lti_env.platform)
    cookies = browser.http.cookies.get_dict()

    def post(_: int) -> int:
        response = requests.post(
            form.action, data=form.fields, cookies=cookies, timeout=20, allow_redirects=False
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(post, range(6)))
    assert sorted(statuses) == [303] + [400] * 5, statuses


def test_role_mapping() -> None:
    from acquis.lti.session import map_role

    lis = "http://purl.imsglobal.org/vocab/lis/v2/"
    assert map_role([lis + "membership#Learner"]) == "student"
    assert map_role([lis + "membership#Instructor", lis + "membership#Learner"]) == "teacher"
    assert map_role([lis + "system/person#Administrator", lis + "membership#Instructor"]) == "admin"
    assert map_role([lis + "membership#Mentor"]) is None
    assert map_role([]) is None
