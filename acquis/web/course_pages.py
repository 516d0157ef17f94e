"""The pages teachers and students reach from their Moodle course (after an LTI launch).

Teachers tag the course's activities, decide as a jury, and see who reached what; students see
their progress, their badges and export what they choose to Europass. Every route is guarded
by ``lti_required``: the launch's establishment, course and role must match the URL.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, g, redirect, render_template, request, url_for
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response as BaseResponse

from acquis.core import adapters, establishments, jury, points, tags
from acquis.core.errors import AcquisError, InvalidInput
from acquis.core.events import LearnerRef
from acquis.core.models import Activity, Level, Validation, ValidationRule
from acquis.core.snapshots import learner_ref
from acquis.lti import courses, services
from acquis.lti.session import COOKIE, LtiSession, lti_required
from acquis.web import course_data, csrf, moodle_activities
from acquis.web.context import runtime
from acquis.web.messages import words

bp = Blueprint("course", __name__, template_folder="templates")


def _lti() -> LtiSession:
    session: LtiSession = g.lti
    return session


def _render(template: str, **context: Any) -> str:
    session = _lti()
    return render_template(
        template,
        t=words(session.locale),
        lang="en" if session.locale.lower().startswith("en") else "fr",
        csrf_field=csrf.FIELD,
        csrf_token=csrf.token(request.cookies.get(COOKIE, "")),
        user=session.user_name,
        course=session.context_title,
        **context,
    )


# ---- teacher -----------------------------------------------------------------------------------
def teacher_page(slug: str, context_id: str, message: str | None = None, error: str | None = None) -> str:
    s = _lti()
    rt = runtime()
    with rt.db.session() as session:
        wwwroot, ref = course_data.course_ref(session, s.platform_id, context_id)
        acts = course_data.activities(session, s.establishment_id, ref)
        ids = [a.id for a in acts]
        people = course_data.learners(session, ids)
        learner_ids = [p.id for p in people]
        lti_course = courses.get(session, s.platform_id, context_id)
        est = establishments.get(session, slug)
        listed, moodle_error = moodle_activities.merged(
            session,
            est,
            rt.settings.public_url,
            acts,
            lti_course.moodle_course_id if lti_course else courses.moodle_course_id({}, context_id),
            wwwroot,
        )
        return _render(
            "course/teacher.html",
            slug=slug,
            context_id=context_id,
            wwwroot=wwwroot,
            activities=listed,
            moodle_error=moodle_error,
            lti_course=lti_course,
            tags=course_data.tags_by_activity(session, ids),
            levels=course_data.level_choices(session, s.establishment_id),
            actions=course_data.action_choices(session, s.establishment_id),
            pending=course_data.pending(session, s.establishment_id, learner_ids),
            progress=[(p, course_data.progress(session, s.establishment_id, p.id)) for p in people],
            message=message,
            error=error,
        )


def _chosen_activity(session: Session, s: LtiSession, context_id: str) -> tuple[str, str]:
    """The course's reference and the activity a teacher's form names, which must belong to the
    Moodle site that launched (a teacher tags only that site's activities)."""
    wwwroot, ref = course_data.course_ref(session, s.platform_id, context_id)
    activity = request.form.get("activity", "").strip()
    if not activity.startswith(f"{wwwroot}/mod/"):
        raise InvalidInput(f"choose an activity of this Moodle site ({wwwroot}/mod/…)", field="activity")
    return ref, activity


@bp.post("/e/<slug>/lti/course/<context_id>/teacher/tags")
@lti_required("teacher")
def add_tag(slug: str, context_id: str) -> str | BaseResponse:
    csrf.check(COOKIE)
    s = _lti()
    rt = runtime()
    try:
        with rt.db.session() as session:
            est = establishments.get(session, slug)
            ref, activity = _chosen_activity(session, s, context_id)
            level = session.get(Level, _int(request.form.get("level_id"), "level_id"))
            allowed = {lid for lid, _ in course_data.level_choices(session, est.id)}
            if level is None or level.id not in allowed:
                raise InvalidInput("choose a level of this establishment's frameworks", field="level_id")
            trigger = request.form.get("trigger", "completion")
            raw_grade = request.form.get("min_grade", "").strip()
            min_grade = float(raw_grade) if raw_grade and trigger == "min_grade" else None
            rule: ValidationRule = tags.add_rule(
                session, est, level, [activity], trigger, min_grade, 1, created_by=s.user_name
            )
            act = rule.activities[0]
            if act.course_ref is None:
                act.course_ref = ref  # tagged from this course: list it here before statements arrive
            tags.apply_to_past(session, rt.host, est, rule)
    except (AcquisError, ValueError) as exc:
        return teacher_page(slug, context_id, error=str(exc))
    rt.notify()
    return redirect(url_for("lti.teacher_home", slug=slug, context_id=context_id, saved=1), code=303)


@bp.post("/e/<slug>/lti/course/<context_id>/teacher/points")
@lti_required("teacher")
def add_points_tag(slug: str, context_id: str) -> str | BaseResponse:
    """Count an activity of the course as an action of a points programme, for a number of points."""
    csrf.check(COOKIE)
    s = _lti()
    rt = runtime()
    try:
        with rt.db.session() as session:
            est = establishments.get(session, slug)
            ref, activity = _chosen_activity(session, s, context_id)
            chosen = request.form.get("action", "")
            if chosen not in {value for value, _ in course_data.action_choices(session, est.id)}:
                raise InvalidInput("choose an action of this establishment's programmes", field="action")
            programme_code, action_code = chosen.split("|", 1)
            raw = request.form.get("points", "").strip()
            tag = points.tag_activity(
                session,
                est,
                programme_code,
                action_code,
                activity,
                _int(raw, "points") if raw else None,
                created_by=s.user_name,
            )
            act = session.get(Activity, tag.activity_id)
            if act is not None and act.course_ref is None:
                act.course_ref = ref
    except AcquisError as exc:
        return teacher_page(slug, context_id, error=str(exc))
    rt.notify()
    return redirect(url_for("lti.teacher_home", slug=slug, context_id=context_id, saved=1), code=303)


@bp.post("/e/<slug>/lti/course/<context_id>/teacher/validations/<int:validation_id>")
@lti_required("teacher")
def decide(slug: str, context_id: str, validation_id: int) -> str | BaseResponse:
    csrf.check(COOKIE)
    s = _lti()
    rt = runtime()
    decision = {"approve": "approved", "reject": "rejected"}.get(request.form.get("decision", ""))
    try:
        if decision is None:
            raise InvalidInput("approve or reject", field="decision")
        with rt.db.session() as session:
            _, ref = course_data.course_ref(session, s.platform_id, context_id)
            in_course = {
                p.id
                for p in course_data.learners(
                    session, [a.id for a in course_data.activities(session, s.establishment_id, ref)]
                )
            }
            v = session.get(Validation, validation_id)
            if v is None or v.establishment_id != s.establishment_id or v.learner_id not in in_course:
                abort(404)
            jury.decide(
                session,
                rt.host,
                s.establishment_id,
                validation_id,
                decision,
                by=s.user_name,
                reason=request.form.get("reason", "").strip(),
            )
    except AcquisError as exc:
        return teacher_page(slug, context_id, error=str(exc))
    rt.notify()
    return redirect(url_for("lti.teacher_home", slug=slug, context_id=context_id, saved=1), code=303)


@bp.post("/e/<slug>/lti/course/<context_id>/teacher/grades")
@lti_required("teacher")
def send_grades(slug: str, context_id: str) -> str:
    """Post every learner's competency progress to the course's gradebook (AGS)."""
    csrf.check(COOKIE)
    s = _lti()
    t = words(s.locale)
    rt = runtime()
    try:
        report = services.send_grades(rt.db, s.establishment_id, s.platform_id, context_id)
    except services.ServiceError as exc:
        return teacher_page(slug, context_id, error=f"{t['grades_failed']} : {exc}")
    message = t["grades_sent"].format(sent=report.sent, columns=report.columns, skipped=report.skipped)
    if report.errors:
        return teacher_page(
            slug,
            context_id,
            message=message,
            error=f"{t['grades_failed']} : " + " ; ".join(report.errors[:20]),
        )
    return teacher_page(slug, context_id, message=message)


@bp.post("/e/<slug>/lti/course/<context_id>/teacher/roster")
@lti_required("teacher")
def sync_roster(slug: str, context_id: str) -> str:
    """Read the course's participants (NRPS) now, whatever the time of the last sync."""
    csrf.check(COOKIE)
    s = _lti()
    t = words(s.locale)
    rt = runtime()
    try:
        report = services.sync_roster(rt.db, s.establishment_id, s.platform_id, context_id)
    except services.ServiceError as exc:
        return teacher_page(slug, context_id, error=f"{t['roster_failed']} : {exc}")
    return teacher_page(
        slug,
        context_id,
        message=t["roster_done"].format(
            learners=report.learners, created=report.created, updated=report.updated
        ),
    )


# ---- student -----------------------------------------------------------------------------------
def student_page(slug: str, context_id: str, error: str | None = None) -> str:
    s = _lti()
    rt = runtime()
    with rt.db.session() as session:
        wwwroot, _ = course_data.course_ref(session, s.platform_id, context_id)
        learner = course_data.learner_for(session, s.establishment_id, wwwroot, s.user_sub)
        enabled = adapters.enabled_names(session, s.establishment_id)
        sealed = False
        if "europass" in enabled:
            est = establishments.get(session, slug)
            settings = adapters.context(session, est, "europass", rt.settings.public_url).settings
            sealed = bool(settings.get("seal_certificate") and settings.get("seal_key"))
        return _render(
            "course/student.html",
            slug=slug,
            context_id=context_id,
            learner=learner,
            progress=course_data.progress(session, s.establishment_id, learner.id) if learner else [],
            badges=course_data.badges(session, learner.id) if learner else [],
            validated=course_data.validated(session, learner.id) if learner else [],
            europass="europass" in enabled,
            sealed=sealed,
            error=error,
        )


@bp.post("/e/<slug>/lti/course/<context_id>/student/export")
@lti_required("student")
def export(slug: str, context_id: str) -> str | Response:
    csrf.check(COOKIE)
    s = _lti()
    rt = runtime()
    try:
        with rt.db.session() as session:
            wwwroot, _ = course_data.course_ref(session, s.platform_id, context_id)
            learner = course_data.learner_for(session, s.establishment_id, wwwroot, s.user_sub)
            if learner is None:
                abort(404)
            est = establishments.get(session, slug)
            if "europass" not in adapters.enabled_names(session, est.id):
                raise InvalidInput("Europass export is not enabled for this establishment", field="format")
            selection = {
                "validation_ids": [_int(v, "validation_ids") for v in request.form.getlist("validation_ids")],
                "award_ids": [_int(a, "award_ids") for a in request.form.getlist("award_ids")],
            }
            if not selection["validation_ids"] and not selection["award_ids"]:
                raise InvalidInput("choose at least one competency or badge to export", field="selection")
            ctx = adapters.context(session, est, "europass", rt.settings.public_url, request_session=session)
            who: LearnerRef = learner_ref(session, learner.id)
            result = rt.host.caller("export_achievements", ["europass"])(
                ctx=ctx, learner=who, format="europass", selection=selection
            )
    except AcquisError as exc:
        return student_page(slug, context_id, error=str(exc))
    if result is None:
        return student_page(slug, context_id, error="no exporter answered")
    return Response(
        result.content,
        mimetype=result.media_type,
        headers={"Content-Disposition": f'attachment; filename="{result.filename}"'},
    )


def _int(value: str | None, field: str) -> int:
    try:
        return int(value or "")
    except ValueError:
        raise InvalidInput("expected a number", field=field) from None
