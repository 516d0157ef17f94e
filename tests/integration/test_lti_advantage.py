"""LTI Advantage against lti1p3platform over HTTP: deep linking, grades (AGS), roster (NRPS).

The platform is the independent implementation (tests/fakes/lti_platform.py); its service
endpoints (tests/fakes/lti_services.py) check the tool's client assertion against the key set
the tool serves, the scopes, the media types, and page their containers with Link headers.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

import jwt
import requests
from sqlalchemy import select

from acquis.core import establishments, frameworks, tags
from acquis.core.ingest import ingest
from acquis.core.models import Learner, LearnerIdentifier, LtiCourse, utcnow
from acquis.core.xapi import parse_batch
from tests import helpers
from tests.fakes.lti_platform import INSTRUCTOR, LEARNER, Browser, FakePlatform
from tests.fakes.lti_services import LINEITEM, NRPS_READ, SCORE

if TYPE_CHECKING:
    from tests.fakes.lti_env import LtiEnv

pytest_plugins = ["tests.fakes.lti_env"]

DL_RESPONSE = "LtiDeepLinkingResponse"
_FORM = re.compile(r'<form[^>]*method="post" action="([^"]+)"')
_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def _form(page: str) -> tuple[str, dict[str, str]]:
    action = _FORM.search(page)
    assert action, page
    return html.unescape(action.group(1)), {k: html.unescape(v) for k, v in _FIELD.findall(page)}


def _absolute(env: LtiEnv, url: str) -> str:
    return url if url.startswith("http") else env.tool_url + url


# ---- deep linking ------------------------------------------------------------------------------
def test_teacher_places_the_resource_by_deep_linking(lti_env: LtiEnv, browser: Browser) -> None:
    p = lti_env.platform
    p.scenario.roles, p.scenario.deep_link = [INSTRUCTOR], True
    picker = browser.launch(p)
    assert picker.status_code == 200, picker.text
    assert "Ajouter acquis au cours" in picker.text and 'lang="fr"' in picker.text
    action, fields = _form(picker.text)

    without_csrf = browser.http.post(_absolute(lti_env, action), data={"title": "x"}, timeout=10)
    assert without_csrf.status_code == 403

    answer = browser.http.post(
        _absolute(lti_env, action), data={**fields, "title": "Mes compétences"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return_url, posted = _form(answer.text)
    assert return_url == p.base_url + "/mod/lti/contentitem_return.php"
    saved = browser.http.post(return_url, data=posted, timeout=10)
    assert saved.status_code == 200, saved.text  # lti1p3platform verified it with the tool's JWKS

    [received] = p.services.deep_links
    assert received["claims"]["https://purl.imsglobal.org/spec/lti/claim/message_type"] == DL_RESPONSE
    assert received["claims"]["https://purl.imsglobal.org/spec/lti-dl/claim/data"] == p.scenario.dl_data
    [item] = received["items"]
    assert item["type"] == "ltiResourceLink"
    assert item["title"] == "Mes compétences"
    assert item["url"] == lti_env.tool_url + "/lti/launch"

    again = browser.http.post(_absolute(lti_env, action), data={**fields, "title": "encore"}, timeout=10)
    assert again.status_code == 400 and again.headers["X-Acquis-Error"] == "deep_link"


def test_deep_linking_picker_speaks_the_launch_language(lti_env: LtiEnv, browser: Browser) -> None:
    p = lti_env.platform
    p.scenario.roles, p.scenario.deep_link, p.scenario.locale = [INSTRUCTOR], True, "en-GB"
    picker = browser.launch(p)
    assert "Add acquis to the course" in picker.text and 'lang="en"' in picker.text


def test_a_student_cannot_open_a_teachers_deep_linking_picker(lti_env: LtiEnv, browser: Browser) -> None:
    p = lti_env.platform
    p.scenario.roles, p.scenario.deep_link = [INSTRUCTOR], True
    picker = browser.launch(p)
    student = Browser()
    p.scenario.roles, p.scenario.deep_link = [LEARNER], False
    assert student.launch(p).status_code == 200
    response = student.http.get(picker.url, timeout=10)
    assert response.status_code == 403 and response.headers["X-Acquis-Error"] == "forbidden"


# ---- AGS and NRPS ------------------------------------------------------------------------------
def _course_with_progress(env: LtiEnv) -> None:
    """lycee-a gets the demo framework; s-1 validates C1 Novice and Intermédiaire, s-2 Novice."""
    rt, issuer = env.runtime, env.platform.issuer
    with rt.db.session() as s:
        est = establishments.get(s, "lycee-a")
        frameworks.import_definition(s, est, helpers.DEMO_FRAMEWORK, create_badges=False)
        for cmid, level in ((1, "Novice"), (2, "Intermédiaire")):
            lv = tags.find_level(s, est, "C1", level)
            tags.add_rule(s, est, lv, [f"{issuer}/mod/book/view.php?id={cmid}"])
    statements = [
        helpers.statement(user="s-1", cmid=1, home=issuer),
        helpers.statement(user="s-1", cmid=2, home=issuer),
        helpers.statement(user="s-2", cmid=1, home=issuer),
    ]
    with rt.db.session() as s:
        est = establishments.get(s, "lycee-a")
        ingest(s, rt.host, est.id, [f for f in parse_batch(statements, utcnow()) if f])


def _members(p: FakePlatform) -> list[dict[str, Any]]:
    lis = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
    return [
        {
            "user_id": "t-1",
            "name": "Prof Dupont",
            "email": "dupont@lycee-a.fr",
            "roles": [lis + "Instructor"],
        },
        {
            "user_id": "s-1",
            "name": "Camille Martin",
            "email": "Camille.Martin@lycee-a.fr",
            "roles": [lis + "Learner"],
        },
        {"user_id": "s-2", "name": "Léa Petit", "email": "lea.petit@lycee-a.fr", "roles": [lis + "Learner"]},
        {"user_id": "s-3", "name": "Noé Roux", "email": "noe.roux@lycee-a.fr", "roles": [lis + "Learner"]},
        {
            "user_id": "s-4",
            "name": "Parti",
            "email": "parti@lycee-a.fr",
            "roles": [lis + "Learner"],
            "status": "Inactive",
        },
    ]


def _teacher_launch(env: LtiEnv, browser: Browser) -> requests.Response:
    p = env.platform
    p.scenario.roles, p.scenario.services, p.scenario.user_id = [INSTRUCTOR], True, "t-1"
    page = browser.launch(p)
    assert page.status_code == 200, page.text
    return page


def _post(env: LtiEnv, browser: Browser, page: str, what: str) -> requests.Response:
    action = re.search(rf'action="([^"]+/teacher/{what})"', page)
    assert action, page
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert token
    return browser.http.post(
        _absolute(env, html.unescape(action.group(1))), data={"csrf_token": token.group(1)}, timeout=20
    )


def _learners(env: LtiEnv) -> dict[str, tuple[str, str | None]]:
    with env.runtime.db.session() as s:
        rows = s.execute(
            select(LearnerIdentifier.value, Learner.display_name, Learner.email)
            .join(Learner, Learner.id == LearnerIdentifier.learner_id)
            .where(LearnerIdentifier.system == f"lti:{env.platform.issuer}")
        ).all()
    return {value: (name, email) for value, name, email in rows}


def test_teacher_launch_syncs_the_roster_and_grades_reach_the_gradebook(
    lti_env: LtiEnv, browser: Browser
) -> None:
    p = lti_env.platform
    _course_with_progress(lti_env)
    p.services.members = _members(p)
    page = _teacher_launch(lti_env, browser)

    # NRPS at launch: three pages of two members, each request with the media type and a token.
    assert [r for r in p.services.requests if "memberships" in r] == [
        "GET /mod/lti/services.php/CourseSection/course-7/bindings/1/memberships"
    ] * 3
    learners = _learners(lti_env)
    assert learners == {
        "s-1": ("Camille Martin", "camille.martin@lycee-a.fr"),  # the statements' learner, now with its email
        "s-2": ("Léa Petit", "lea.petit@lycee-a.fr"),
        "s-3": ("Noé Roux", "noe.roux@lycee-a.fr"),  # enrolled, nothing done yet
    }
    with lti_env.runtime.db.session() as s:
        course = s.scalars(select(LtiCourse)).one()
        assert course.roster == ["s-1", "s-2", "s-3"] and course.roster_error is None
        assert (
            course.ags and LINEITEM in course.ags["scope"] and course.ags["lineitems"].endswith("?type_id=1")
        )
    assert "Envoyer les notes au carnet de notes" in page.text

    sent = _post(lti_env, browser, page.text, "grades")
    assert sent.status_code == 200, sent.text
    assert "Notes envoyées : 6 dans 2 colonne(s)" in html.unescape(sent.text)
    assert [(li["tag"], li["scoreMaximum"]) for li in p.services.lineitems] == [
        ("acquis-competency-C1", 5),
        ("acquis-competency-C2", 5),
    ]
    c1 = p.services.lineitems[0]["id"]
    scores = {sc["userId"]: sc["scoreGiven"] for item, sc in p.services.scores if item == c1}
    assert scores == {"s-1": 2, "s-2": 1, "s-3": 0}
    assert all(
        sc["scoreMaximum"] == 5 and sc["gradingProgress"] == "FullyGraded" for _, sc in p.services.scores
    )

    # Sending again finds the columns by tag (through the Link-paged container) and adds none.
    p.services.page_size = 1
    again = _post(lti_env, browser, page.text, "grades")
    assert "Notes envoyées : 6" in html.unescape(again.text)
    assert len(p.services.lineitems) == 2 and len(p.services.scores) == 12
    # One token per scope set, cached between the two sendings and the roster read.
    assert p.services.token_requests == 2


def test_the_tools_service_token_is_checked_against_its_published_keys(lti_env: LtiEnv) -> None:
    """The token endpoint refuses an assertion signed with another key, or replayed."""
    from tests.fakes.lti_platform import rsa_pair

    p = lti_env.platform
    now = int(utcnow().timestamp())
    claims = {
        "iss": p.client_id,
        "sub": p.client_id,
        "aud": p.token_url,
        "iat": now,
        "exp": now + 60,
        "jti": "j-1",
    }
    other, _ = rsa_pair()
    with lti_env.runtime.db.session() as s:
        from acquis.lti import keys

        current = keys.current(s)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "scope": SCORE,
    }
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": current.kid})
    assert (
        requests.post(p.token_url, data={**form, "client_assertion": forged}, timeout=10).status_code == 401
    )
    good = jwt.encode(claims, current.private_pem, algorithm="RS256", headers={"kid": current.kid})
    answer = requests.post(p.token_url, data={**form, "client_assertion": good}, timeout=10)
    assert answer.status_code == 200 and answer.json()["scope"] == SCORE
    assert requests.post(p.token_url, data={**form, "client_assertion": good}, timeout=10).status_code == 401


def test_platform_refusals_are_shown_and_lose_nothing(lti_env: LtiEnv, browser: Browser) -> None:
    p = lti_env.platform
    _course_with_progress(lti_env)
    p.services.members = _members(p)
    p.services.granted_scopes = {NRPS_READ}  # the tool's grade service is not enabled in Moodle
    page = _teacher_launch(lti_env, browser)

    refused = html.unescape(_post(lti_env, browser, page.text, "grades").text)
    assert "Notes non envoyées : service token: the platform answered HTTP 400" in refused
    assert "invalid_scope" in refused and p.services.lineitems == []

    p.services.granted_scopes |= {LINEITEM, SCORE}
    p.services.refuse_scores_for = {"s-2"}
    partly = html.unescape(_post(lti_env, browser, page.text, "grades").text)
    assert "Notes envoyées : 4 dans 2 colonne(s)" in partly
    assert "user s-2" in partly and "HTTP 400" in partly and "unknown user" in partly

    p.services.refuse_scores_for = set()
    assert "Notes envoyées : 6" in html.unescape(_post(lti_env, browser, page.text, "grades").text)
    assert {sc["userId"] for _, sc in p.services.scores} == {"s-1", "s-2", "s-3"}


def test_roster_failure_keeps_the_launch_working_and_is_shown(lti_env: LtiEnv, browser: Browser) -> None:
    p = lti_env.platform
    p.services.members = _members(p)
    p.services.granted_scopes = {SCORE, LINEITEM}  # names and roles not enabled
    page = _teacher_launch(lti_env, browser)
    assert "Synchronisation de la liste des participants en échec" in html.unescape(page.text)
    assert _learners(lti_env) == {}

    p.services.granted_scopes.add(NRPS_READ)
    synced = html.unescape(_post(lti_env, browser, page.text, "roster").text)
    assert "Participants : 3 étudiant(s) ; 3 ajouté(s), 0 mis à jour." in synced
    assert set(_learners(lti_env)) == {"s-1", "s-2", "s-3"}


def test_a_points_programme_grade_goes_to_a_column_out_of_20(lti_env: LtiEnv, browser: Browser) -> None:
    from acquis.core import points
    from acquis.core.models import Activity

    p, rt = lti_env.platform, lti_env.runtime
    activity = f"{p.issuer}/mod/book/view.php?id=9"
    with rt.db.session() as s:
        est = establishments.get(s, "lycee-a")
        points.import_programme(s, est, points.sample_definition())
        points.tag_activity(s, est, "engagement", "challenge", activity, 6)
    done = helpers.statement(user="s-1", cmid=9, home=p.issuer, timestamp="2025-10-15T10:00:00Z")
    with rt.db.session() as s:
        est = establishments.get(s, "lycee-a")
        ingest(s, rt.host, est.id, [f for f in parse_batch([done], utcnow()) if f])
        # The reference statement names another course as parent: this activity is course-7's.
        act = s.scalars(select(Activity).where(Activity.source_id == activity)).one()
        act.course_ref = f"{p.issuer}/course/view.php?id=course-7"
        learner_id = s.scalars(
            select(LearnerIdentifier.learner_id).where(LearnerIdentifier.value == "s-1")
        ).one()
        expected = points.semester_result(s, est, "engagement", learner_id, "2025-2026-S1").grade
    assert expected is not None

    page = _teacher_launch(lti_env, browser)
    sent = html.unescape(_post(lti_env, browser, page.text, "grades").text)
    assert "Notes envoyées" in sent, sent
    columns = {li["tag"]: li for li in p.services.lineitems}
    s1 = columns["acquis-points-engagement-2025-2026-S1"]
    assert s1["scoreMaximum"] == 20 and "Semestre d'automne" in s1["label"]
    [score] = [sc for item, sc in p.services.scores if item == s1["id"]]
    assert score["userId"] == "s-1" and score["scoreGiven"] == float(expected)
