"""The pages teachers and students reach from Moodle: tagging, jury, progress, badges, export."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from acquis.core import adapters, establishments
from acquis.core.ingest import ingest
from acquis.core.models import BadgeClass, LtiDeployment, LtiPlatform, Validation, ValidationRule, utcnow
from acquis.core.runtime import Runtime
from acquis.core.xapi import parse_batch
from acquis.lti import session as lti_session
from acquis.web import csrf
from acquis.web.app import create_app
from tests import helpers

COURSE = "2"  # the course of the reference statement: http://www.example.org/course/view.php?id=2
ACTIVITY = f"{helpers.MOODLE}/mod/book/view.php?id=5"


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Flask]:
    with runtime.db.session() as s:
        t = helpers.make_tenant(s, runtime.host, "univ-a")
        other = helpers.make_tenant(s, runtime.host, "univ-b")
        for tenant in (t, other):
            s.add(
                LtiPlatform(
                    establishment_id=tenant.est.id,
                    issuer=helpers.MOODLE,
                    client_id=f"c-{tenant.est.slug}",
                    auth_login_url=f"{helpers.MOODLE}/mod/lti/auth.php",
                    auth_token_url=f"{helpers.MOODLE}/t",
                    jwks_url=f"{helpers.MOODLE}/k",
                    deployments=[LtiDeployment(deployment_id="1")],
                )
            )
    yield create_app(runtime)


def _client(
    app: Flask, runtime: Runtime, role: str, user: str = "1", slug: str = "univ-a", locale: str = "fr-FR"
) -> FlaskClient:
    with runtime.db.session() as s:
        est = establishments.get(s, slug)
        platform = s.scalars(select(LtiPlatform).where(LtiPlatform.establishment_id == est.id)).one()
        session = lti_session.LtiSession(
            establishment_id=est.id,
            establishment_slug=slug,
            platform_id=platform.id,
            deployment_id="1",
            context_id=COURSE,
            context_title="Cours test",
            user_sub=user,
            user_name=f"User {user}",
            role=role,
            locale=locale,
        )
    client = app.test_client()
    with app.test_request_context():
        client.set_cookie(lti_session.COOKIE, lti_session.dumps(session))
    return client


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _send(runtime: Runtime, *statements: dict[str, Any]) -> None:
    with runtime.db.session() as s:
        est = establishments.get(s, "univ-a")
        ingest(s, runtime.host, est.id, [f for f in parse_batch(list(statements), utcnow()) if f])


def _count(runtime: Runtime, model: Any) -> int:
    with runtime.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _c1_novice(runtime: Runtime) -> int:
    with runtime.db.session() as s:
        return int(s.scalar(select(BadgeClass.level_id).where(BadgeClass.name.like("Chercher%Novice"))) or 0)


def test_teacher_tags_an_activity_of_the_course_and_past_completions_count(
    app: Flask, runtime: Runtime
) -> None:
    _send(runtime, helpers.statement(user="7", cmid=5))  # a completion before any tag
    teacher = _client(app, runtime, "teacher")
    page = teacher.get(f"/e/univ-a/lti/course/{COURSE}/teacher")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Module 5" in html and "Associer" in html and 'lang="fr"' in html
    response = teacher.post(
        f"/e/univ-a/lti/course/{COURSE}/teacher/tags",
        data={
            "csrf_token": _csrf(html),
            "activity": ACTIVITY,
            "level_id": _c1_novice(runtime),
            "trigger": "completion",
        },
    )
    assert response.status_code == 303
    assert _count(runtime, ValidationRule) == 1
    with runtime.db.session() as s:
        assert s.scalars(select(Validation.status)).all() == ["validated"]  # applied to the past
    after = teacher.get(response.headers["Location"]).get_data(as_text=True)
    assert "Enregistré." in after and "Chercher l&#39;information — Novice" in after


def test_forms_need_the_csrf_token_of_the_session(app: Flask, runtime: Runtime) -> None:
    teacher = _client(app, runtime, "teacher")
    level = _c1_novice(runtime)
    no_token = teacher.post(
        f"/e/univ-a/lti/course/{COURSE}/teacher/tags", data={"activity": ACTIVITY, "level_id": level}
    )
    assert no_token.status_code == 403
    other = _client(app, runtime, "teacher", user="2")  # another session's token
    token = _csrf(other.get(f"/e/univ-a/lti/course/{COURSE}/teacher").get_data(as_text=True))
    forged = teacher.post(
        f"/e/univ-a/lti/course/{COURSE}/teacher/tags",
        data={"csrf_token": token, "activity": ACTIVITY, "level_id": level},
    )
    assert forged.status_code == 403
    assert _count(runtime, ValidationRule) == 0


def test_an_activity_of_another_site_is_refused_with_the_reason(app: Flask, runtime: Runtime) -> None:
    teacher = _client(app, runtime, "teacher")
    token = _csrf(teacher.get(f"/e/univ-a/lti/course/{COURSE}/teacher").get_data(as_text=True))
    page = teacher.post(
        f"/e/univ-a/lti/course/{COURSE}/teacher/tags",
        data={
            "csrf_token": token,
            "activity": "https://elsewhere.example/mod/quiz/view.php?id=1",
            "level_id": _c1_novice(runtime),
        },
    )
    assert page.status_code == 200
    assert "choose an activity of this Moodle site" in page.get_data(as_text=True)
    assert _count(runtime, ValidationRule) == 0


def test_jury_approves_from_the_course_page(app: Flask, runtime: Runtime) -> None:
    with runtime.db.session() as s:
        s.execute(update(BadgeClass).values(requires_approval=True))
        helpers.tag(s, helpers.Tenant(establishments.get(s, "univ-a"), None, None), [5])  # type: ignore[arg-type]
    _send(runtime, helpers.statement(user="7", cmid=5))
    teacher = _client(app, runtime, "teacher")
    html = teacher.get(f"/e/univ-a/lti/course/{COURSE}/teacher").get_data(as_text=True)
    assert "Learner 7" in html and "Approuver" in html
    with runtime.db.session() as s:
        vid = s.scalars(select(Validation.id)).one()
    done = teacher.post(
        f"/e/univ-a/lti/course/{COURSE}/teacher/validations/{vid}",
        data={"csrf_token": _csrf(html), "decision": "approve", "reason": "soutenance réussie"},
    )
    assert done.status_code == 303
    with runtime.db.session() as s:
        v = s.get(Validation, vid)
        assert v is not None and v.status == "validated" and v.decided_by == "User 1"


def test_students_cannot_reach_teacher_pages_nor_other_establishments(app: Flask, runtime: Runtime) -> None:
    student = _client(app, runtime, "student", user="7")
    assert student.get(f"/e/univ-a/lti/course/{COURSE}/teacher").status_code == 403
    assert student.post(f"/e/univ-a/lti/course/{COURSE}/teacher/tags", data={}).status_code == 403
    foreign = _client(app, runtime, "teacher", slug="univ-b")
    assert foreign.get(f"/e/univ-a/lti/course/{COURSE}/teacher").status_code == 403
    assert foreign.get("/e/univ-b/lti/course/99/teacher").status_code == 403  # another course


def test_student_sees_progress_badges_and_what_the_next_level_needs_in_english(
    app: Flask, runtime: Runtime
) -> None:
    with runtime.db.session() as s:
        t = helpers.Tenant(establishments.get(s, "univ-a"), None, None)  # type: ignore[arg-type]
        helpers.tag(s, t, [5], "C1", "Novice")
        helpers.tag(s, t, [6], "C1", "Intermédiaire")
    _send(runtime, helpers.statement(user="7", cmid=5))
    html = (
        _client(app, runtime, "student", user="7", locale="en-GB")
        .get(f"/e/univ-a/lti/course/{COURSE}/student")
        .get_data(as_text=True)
    )
    assert 'lang="en"' in html and "My area" in html
    assert "Novice (validated)" in html
    # The next level, and the activity that would validate it (tagged, never completed: its URL).
    assert "<td>Intermédiaire</td>" in html
    assert f"{helpers.MOODLE}/mod/book/view.php?id=6" in html
    assert "Chercher l&#39;information — Novice" in html  # the badge, being issued
    assert "being issued" in html


def test_student_exports_the_chosen_competencies_to_europass(app: Flask, runtime: Runtime) -> None:
    with runtime.db.session() as s:
        est = establishments.get(s, "univ-a")
        helpers.tag(s, helpers.Tenant(est, None, None), [5], "C1", "Novice")  # type: ignore[arg-type]
        adapters.update_settings(s, runtime.host, est, "europass", {"legal_identifier": "19593560000017"})
        adapters.set_enabled(s, runtime.host, est, "europass", True)
    _send(runtime, helpers.statement(user="7", cmid=5))
    student = _client(app, runtime, "student", user="7")
    html = student.get(f"/e/univ-a/lti/course/{COURSE}/student").get_data(as_text=True)
    assert "n&#39;est pas scellé" in html  # says which form the student gets
    with runtime.db.session() as s:
        vid = s.scalars(select(Validation.id)).one()
    nothing = student.post(f"/e/univ-a/lti/course/{COURSE}/student/export", data={"csrf_token": _csrf(html)})
    assert "choose at least one" in nothing.get_data(as_text=True)
    file = student.post(
        f"/e/univ-a/lti/course/{COURSE}/student/export",
        data={"csrf_token": _csrf(html), "validation_ids": str(vid)},
    )
    assert file.status_code == 200
    assert "attachment" in file.headers["Content-Disposition"]
    assert b"Chercher" in file.get_data()
    other_student = _client(app, runtime, "student", user="8")  # has no validation of their own
    cookie = other_student.get_cookie(lti_session.COOKIE)
    assert cookie is not None
    with app.test_request_context():
        token = csrf.token(cookie.value)  # user 8's own, valid token: only the ids are someone else's
    stolen = other_student.post(
        f"/e/univ-a/lti/course/{COURSE}/student/export",
        data={"csrf_token": token, "validation_ids": str(vid)},
    )
    assert stolen.status_code == 404  # the page knows no learner for user 8: nothing leaks


def test_a_student_cannot_export_a_classmates_validation(app: Flask, runtime: Runtime) -> None:
    with runtime.db.session() as s:
        est = establishments.get(s, "univ-a")
        helpers.tag(s, helpers.Tenant(est, None, None), [5], "C1", "Novice")  # type: ignore[arg-type]
        adapters.update_settings(s, runtime.host, est, "europass", {"legal_identifier": "19593560000017"})
        adapters.set_enabled(s, runtime.host, est, "europass", True)
    _send(runtime, helpers.statement(user="7", cmid=5), helpers.statement(user="8", cmid=9))
    with runtime.db.session() as s:
        classmates = s.scalars(select(Validation.id)).one()  # user 7's only
    student = _client(app, runtime, "student", user="8")
    html = student.get(f"/e/univ-a/lti/course/{COURSE}/student").get_data(as_text=True)
    response = student.post(
        f"/e/univ-a/lti/course/{COURSE}/student/export",
        data={"csrf_token": _csrf(html), "validation_ids": str(classmates)},
    )
    assert response.status_code == 200 and "attachment" not in response.headers.get("Content-Disposition", "")
    assert f"no validation {classmates} for learner" in response.get_data(as_text=True)


@pytest.mark.parametrize(("locale", "lang"), [("fr-FR", "fr"), ("en-GB", "en"), ("de-DE", "fr")])
def test_course_pages_speak_the_launch_language_only(
    app: Flask, runtime: Runtime, locale: str, lang: str
) -> None:
    from tests.i18n_checks import foreign_strings

    with runtime.db.session() as s:
        est = establishments.get(s, "univ-a")
        helpers.tag(s, helpers.Tenant(est, None, None), [5], "C1", "Novice")  # type: ignore[arg-type]
        adapters.update_settings(s, runtime.host, est, "europass", {"legal_identifier": "19593560000017"})
        adapters.set_enabled(s, runtime.host, est, "europass", True)
    _send(runtime, helpers.statement(user="7", cmid=5))
    pages = [
        _client(app, runtime, "teacher", locale=locale).get(f"/e/univ-a/lti/course/{COURSE}/teacher"),
        _client(app, runtime, "student", user="7", locale=locale).get(
            f"/e/univ-a/lti/course/{COURSE}/student"
        ),
    ]
    for page in pages:
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and f'<html lang="{lang}">' in text
        assert foreign_strings(text, lang) == []
    student = pages[1].get_data(as_text=True)
    assert ("Exporter vers Europass" in student) == (lang == "fr")
    assert ("Export to Europass" in student) == (lang == "en")
