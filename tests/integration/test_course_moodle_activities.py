"""The teacher page lists the course's activities from Moodle's web services (the Moodle fake),
each taggable for a competency level or for points; a web-services failure keeps the page."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from acquis.core import adapters, establishments, points
from acquis.core.models import ActionTag, Activity, LtiDeployment, LtiPlatform
from acquis.core.runtime import Runtime
from acquis.lti import courses
from acquis.lti import session as lti_session
from acquis.web.app import create_app
from tests import helpers
from tests.fakes.moodle import COURSE, TOKEN, FakeMoodle, demo_site, running


@pytest.fixture
def moodle() -> Iterator[FakeMoodle]:
    fake = demo_site(FakeMoodle())
    with running(fake):
        yield fake


@pytest.fixture
def app(runtime: Runtime, moodle: FakeMoodle) -> Flask:
    with runtime.db.session() as s:
        t = helpers.make_tenant(s, runtime.host, "univ-a")
        s.add(
            LtiPlatform(
                establishment_id=t.est.id,
                issuer=moodle.wwwroot,
                client_id="c-1",
                auth_login_url=f"{moodle.wwwroot}/mod/lti/auth.php",
                auth_token_url=f"{moodle.wwwroot}/mod/lti/token.php",
                jwks_url=f"{moodle.wwwroot}/mod/lti/certs.php",
                deployments=[LtiDeployment(deployment_id="1")],
            )
        )
        adapters.update_settings(
            s, runtime.host, t.est, "moodle", {"wwwroot": moodle.wwwroot, "token": TOKEN}
        )
        adapters.set_enabled(s, runtime.host, t.est, "moodle", True)
        points.import_programme(s, t.est, points.sample_definition())
    return create_app(runtime)


def _teacher(app: Flask, runtime: Runtime, context_id: str = str(COURSE)) -> FlaskClient:
    with runtime.db.session() as s:
        est = establishments.get(s, "univ-a")
        platform = s.scalars(select(LtiPlatform)).one()
        session = lti_session.LtiSession(
            establishment_id=est.id,
            establishment_slug="univ-a",
            platform_id=platform.id,
            deployment_id="1",
            context_id=context_id,
            context_title="Cours 7",
            user_sub="t-1",
            user_name="Prof",
            role="teacher",
            locale="fr-FR",
        )
    client = app.test_client()
    with app.test_request_context():
        client.set_cookie(lti_session.COOKIE, lti_session.dumps(session))
    return client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert found
    return found.group(1)


def test_moodle_modules_are_listed_and_taggable_for_points(
    app: Flask, runtime: Runtime, moodle: FakeMoodle
) -> None:
    teacher = _teacher(app, runtime)
    page = html.unescape(teacher.get(f"/e/univ-a/lti/course/{COURSE}/teacher").get_data(as_text=True))
    assert moodle.calls["core_course_get_contents"] == 1
    for cmid, modname, name in ((11, "quiz", "Quiz 1"), (12, "assign", "Essay"), (14, "quiz", "Final")):
        assert f'<option value="{moodle.wwwroot}/mod/{modname}/view.php?id={cmid}">{name}</option>' in page
    assert "Compter pour des points" in page and "Participer à un challenge" in page

    response = teacher.post(
        f"/e/univ-a/lti/course/{COURSE}/teacher/points",
        data={
            "csrf_token": _csrf(page),
            "activity": f"{moodle.wwwroot}/mod/assign/view.php?id=12",
            "action": "engagement|challenge",
            "points": "4",
        },
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    with runtime.db.session() as s:
        tag = s.scalars(select(ActionTag)).one()
        activity = s.get(Activity, tag.activity_id)
        assert activity is not None and tag.points == 4
        assert activity.course_ref == f"{moodle.wwwroot}/course/view.php?id={COURSE}"

    out_of_range = teacher.post(
        f"/e/univ-a/lti/course/{COURSE}/teacher/points",
        data={
            "csrf_token": _csrf(page),
            "activity": f"{moodle.wwwroot}/mod/quiz/view.php?id=11",
            "action": "engagement|challenge",
            "points": "40",
        },
    )
    assert out_of_range.status_code == 200 and 'role="alert"' in out_of_range.get_data(as_text=True)
    with runtime.db.session() as s:
        assert len(s.scalars(select(ActionTag)).all()) == 1


@pytest.mark.parametrize(
    ("breakage", "said"),
    [
        ("outage", "will retry"),  # a proxy's 503
        ("token", "does not know this token"),
    ],
)
def test_web_services_failure_keeps_the_page_and_says_why(
    app: Flask, runtime: Runtime, moodle: FakeMoodle, breakage: str, said: str
) -> None:
    if breakage == "outage":
        moodle.outage = 503
    else:
        moodle.tokens.clear()
    response = _teacher(app, runtime).get(f"/e/univ-a/lti/course/{COURSE}/teacher")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "La liste des activités de Moodle n'a pas pu être lue" in page and said in page
    assert "Associer" in page  # tagging by address still works


def test_the_moodle_course_is_the_context_id_unless_a_custom_parameter_says(
    app: Flask, runtime: Runtime
) -> None:
    custom = "https://purl.imsglobal.org/spec/lti/claim/custom"
    assert courses.moodle_course_id({}, "7") == 7
    assert courses.moodle_course_id({custom: {"course_id": "12"}}, "abc") == 12
    assert courses.moodle_course_id({}, "course-v1:abc") is None
    page = _teacher(app, runtime, context_id="course-v1:abc").get(
        "/e/univ-a/lti/course/course-v1:abc/teacher"
    )
    assert "Moodle course id of this course is unknown" in html.unescape(page.get_data(as_text=True))
