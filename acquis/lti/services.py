"""LTI Advantage services acquis calls on the platform: grades (AGS) and the roster (NRPS).

Both authenticate with a service token: PyLTI1p3's service connector signs a client assertion
JWT with the tool's current key (the platform checks it against ``/lti/jwks``) and exchanges it
at the platform's token URL for a bearer token of the service's scopes (client_credentials).

What is sent to the gradebook ("competency progress"): one column per top-level competency of
the establishment's frameworks, tagged ``acquis-competency-<code>``, out of the competency's
number of levels; a student's score is the rank of the highest level validated in a row from
the first (Novice → 1 … Expert → 5; nothing validated → 0). Levels validated further up without
the ones below do not count: the progression is what the gradebook shows. Points programmes
that count an activity of the course add one column /20 per period begun (its grade). Scores are recomputed
from acquis' records at each sending, so a failed sending loses nothing: sending again posts
the current figures, and AGS keeps the latest score per student and column.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import requests
from pylti1p3.assignments_grades import AssignmentsGradesService
from pylti1p3.exception import LtiException, LtiServiceException
from pylti1p3.grade import Grade
from pylti1p3.lineitem import LineItem
from pylti1p3.names_roles import NamesRolesProvisioningService
from pylti1p3.service_connector import ServiceConnector
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import frameworks, points
from acquis.core.db import Database
from acquis.core.errors import AcquisError
from acquis.core.models import (
    ActionTag,
    Activity,
    Establishment,
    Learner,
    LearnerIdentifier,
    LtiCourse,
    LtiPlatform,
    Programme,
    Validation,
    utcnow,
)
from acquis.lti import courses
from acquis.lti.tool_conf import registration_of

TIMEOUT = 15  # seconds per request to the platform
SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
LEARNER_ROLES = ("http://purl.imsglobal.org/vocab/lis/v2/membership#Learner", "Learner")


class ServiceError(AcquisError):
    """The platform could not be reached or refused; the message says what the platform said."""


class _TimeoutSession(requests.Session):
    """PyLTI1p3 sends its requests without a timeout; a hung platform must not hang a page."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        return super().request(*args, **kwargs)


class Connector(ServiceConnector):
    """PyLTI1p3's connector with its token cache filled in: per process, until 30 s before expiry.

    Tokens are bearer secrets: they stay in memory, never in the database or the logs. The key
    names the client id too, since one issuer may register the tool for several establishments.
    """

    _tokens: ClassVar[dict[str, tuple[str, float]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def _scope_key(self, scopes: Iterable[str]) -> str:
        parts = [self._registration.get_issuer() or "", self._registration.get_client_id() or ""]
        return hashlib.sha256("|".join(parts + sorted(scopes)).encode()).hexdigest()

    def _get_cached_access_token(self, scope_key: str) -> str | None:
        with self._lock:
            cached = self._tokens.get(scope_key)
        return cached[0] if cached and cached[1] > time.time() + 30 else None

    def _cache_access_token(self, scope_key: str, access_token: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[scope_key] = (access_token, time.time() + float(expires_in or 0))


def connector(session: Session, platform: LtiPlatform) -> Connector:
    return Connector(registration_of(session, platform), _TimeoutSession())


def explain(exc: Exception, what: str) -> ServiceError:
    """A platform failure said plainly: which call, the HTTP status, the platform's own words."""
    if isinstance(exc, LtiServiceException):
        response = exc.response
        body = (response.text or "").strip().replace("\n", " ")[:300]
        token_step = "access token" in str(exc)
        step = "service token" if token_step else what
        hint = ""
        if response.status_code in (400, 401) and token_step:
            hint = (
                " — check that the tool's public keyset URL in the platform is this acquis' /lti/jwks"
                " and that the tool is allowed the service (Moodle: the tool's Services settings)"
            )
        elif response.status_code in (401, 403):
            hint = " — the platform does not allow this to the tool (Moodle: the tool's Services settings)"
        return ServiceError(f"{step}: the platform answered HTTP {response.status_code} {body!r}{hint}")
    if isinstance(exc, requests.Timeout):
        return ServiceError(f"{what}: the platform did not answer within {TIMEOUT} s; try again later")
    if isinstance(exc, requests.RequestException):
        return ServiceError(f"{what}: cannot reach the platform ({type(exc).__name__})")
    return ServiceError(f"{what}: {exc}")


def _platform(session: Session, course: LtiCourse) -> LtiPlatform:
    platform = session.get(LtiPlatform, course.platform_id)
    assert platform is not None
    return platform


def lti_user_ids(
    session: Session, establishment_id: int, issuer: str, learner_ids: Sequence[int]
) -> dict[int, str]:
    """Each learner's user id at the platform: its ``lti:<issuer>`` identifier, else its
    ``xapi:<issuer>`` one (Moodle uses the user id both as LTI ``sub`` and xAPI account name)."""
    if not learner_ids:
        return {}
    wwwroot = issuer.rstrip("/")
    found: dict[int, str] = {}
    rows = session.execute(
        select(LearnerIdentifier.learner_id, LearnerIdentifier.system, LearnerIdentifier.value).where(
            LearnerIdentifier.establishment_id == establishment_id,
            LearnerIdentifier.learner_id.in_(learner_ids),
            LearnerIdentifier.system.in_((f"lti:{issuer}", f"xapi:{wwwroot}")),
        )
    )
    for learner_id, _system, value in sorted(rows, key=lambda r: str(r[1]).startswith("lti:")):
        found[learner_id] = value  # lti: rows come last, so they win
    return found


# ---- AGS ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    tag: str
    label: str
    maximum: int
    scores: dict[int, float]  # learner id -> score


def competency_columns(session: Session, establishment_id: int, learner_ids: Sequence[int]) -> list[Column]:
    validated = {
        (learner_id, level_id)
        for learner_id, level_id in session.execute(
            select(Validation.learner_id, Validation.level_id).where(
                Validation.establishment_id == establishment_id,
                Validation.status == "validated",
                Validation.learner_id.in_(learner_ids),
            )
        )
    }
    columns: list[Column] = []
    for comp in frameworks.top_competencies(session, establishment_id):
        levels = list(comp.levels)
        if not levels:
            continue
        scores: dict[int, float] = {}
        for learner_id in learner_ids:
            reached = 0
            for level in levels:
                if (learner_id, level.id) not in validated:
                    break
                reached += 1
            scores[learner_id] = reached
        columns.append(
            Column(f"acquis-competency-{comp.code}", f"{comp.code} {comp.title}"[:255], len(levels), scores)
        )
    return columns


def points_columns(
    session: Session, establishment_id: int, course_ref: str, learner_ids: Sequence[int]
) -> list[Column]:
    """One column /20 per period already begun of each points programme that counts an activity
    of this course; a student's score is the period's grade (a student without one, exempt or
    incomplete under the "flag" policy, gets no score rather than a made-up one)."""
    programme_ids = session.scalars(
        select(ActionTag.programme_id)
        .join(Activity, Activity.id == ActionTag.activity_id)
        .where(ActionTag.establishment_id == establishment_id, Activity.course_ref == course_ref)
        .distinct()
    ).all()
    est = session.get(Establishment, establishment_id)
    if not programme_ids or est is None:
        return []
    now = utcnow()
    columns: list[Column] = []
    for programme in session.scalars(
        select(Programme).where(Programme.id.in_(programme_ids)).order_by(Programme.code)
    ):
        for period in programme.periods:
            if period.starts_at > now:
                continue
            scores: dict[int, float] = {}
            for learner_id in learner_ids:
                grade = points.semester_result(session, est, programme.code, learner_id, period.code).grade
                if grade is not None:
                    scores[learner_id] = float(grade)
            label = f"{programme.title} — {period.title}"[:255]
            columns.append(Column(f"acquis-points-{programme.code}-{period.code}", label, 20, scores))
    return columns


@dataclass
class GradeReport:
    columns: int = 0
    sent: int = 0
    skipped: int = 0  # learners the platform knows under no user id acquis has
    errors: list[str] = field(default_factory=list)


def send_grades(db: Database, establishment_id: int, platform_id: int, context_id: str) -> GradeReport:
    """Find or create each column in the course's gradebook and post every learner's score.

    The figures are read first and the platform is called after that transaction ends: the
    platform checks our client assertion against our JWKS endpoint, which needs the database.
    A failing score does not stop the others: the report lists each failure. Raises
    ServiceError when nothing can be sent at all (no service, token refused, no column).
    """
    from acquis.web.course_data import course_learner_ids, course_ref

    with db.session() as session:
        course = courses.get(session, platform_id, context_id)
        if course is None or not course.ags:
            raise ServiceError(
                "the platform offered no grade service (AGS) in this course's launches: "
                "enable it for the tool"
            )
        claim = dict(course.ags)
        scopes = claim.get("scope") or []
        if SCORE_SCOPE not in scopes or LINEITEM_SCOPE not in scopes or "lineitems" not in claim:
            raise ServiceError(
                "the platform does not let acquis manage gradebook columns here (scopes: "
                + (", ".join(scopes) or "none")
                + "): in Moodle choose « Use this service for grade sync and column management »"
            )
        platform = _platform(session, course)
        conn = connector(session, platform)
        learner_ids = course_learner_ids(session, establishment_id, platform_id, context_id)
        users = lti_user_ids(session, establishment_id, platform.issuer, learner_ids)
        known = [lid for lid in learner_ids if lid in users]
        _, ref = course_ref(session, platform_id, context_id)
        columns = competency_columns(session, establishment_id, known) + points_columns(
            session, establishment_id, ref, known
        )
    ags = AssignmentsGradesService(conn, claim)  # type: ignore[arg-type]
    report = GradeReport(skipped=len([lid for lid in learner_ids if lid not in users]))
    stamp = utcnow().isoformat()
    for column in columns:
        wanted = LineItem().set_tag(column.tag).set_label(column.label).set_score_maximum(column.maximum)
        try:
            lineitem = ags.find_or_create_lineitem(wanted, find_by="tag")
        except (LtiException, requests.RequestException) as exc:
            raise explain(exc, f"gradebook column {column.label}") from exc
        report.columns += 1
        for learner_id, score in column.scores.items():
            grade = (
                Grade()
                .set_score_given(score)
                .set_score_maximum(column.maximum)
                .set_user_id(users[learner_id])
                .set_timestamp(stamp)
                .set_activity_progress("Completed" if score >= column.maximum else "InProgress")
                .set_grading_progress("FullyGraded")
            )
            try:
                ags.put_grade(grade, lineitem)
                report.sent += 1
            except (LtiException, requests.RequestException) as exc:
                report.errors.append(f"{column.label}, user {users[learner_id]}: {explain(exc, 'score')}")
    return report


# ---- NRPS --------------------------------------------------------------------------------------
@dataclass
class RosterReport:
    members: int = 0
    learners: int = 0
    created: int = 0
    updated: int = 0


def sync_roster(db: Database, establishment_id: int, platform_id: int, context_id: str) -> RosterReport:
    """Read the course's members and make each active learner known with its name and email.

    Badges are sent to ``Learner.email``: a student who never sent a statement with an email
    (logstore_xapi sends the user id only) gets it from here. A member is found by its
    ``lti:<issuer>`` or ``xapi:<issuer>`` identifier; both are recorded, so the statements
    Moodle sends later for that user land on the same learner. The platform is read outside any
    transaction (see send_grades); a failure is kept on the course for the teacher page.
    """
    with db.session() as session:
        course = courses.get(session, platform_id, context_id)
        if course is None or not course.nrps_url:
            raise ServiceError(
                "the platform offered no roster service (NRPS) in this course's launches: "
                "enable it for the tool"
            )
        platform = _platform(session, course)
        conn, url, issuer = connector(session, platform), course.nrps_url, platform.issuer
    nrps = NamesRolesProvisioningService(conn, {"context_memberships_url": url})
    try:
        members = nrps.get_members()
    except (LtiException, requests.RequestException, ValueError) as exc:
        error = explain(exc, "course roster")
        with db.session() as session:
            if (course := courses.get(session, platform_id, context_id)) is not None:
                course.roster_error = str(error)[:1024]
        raise error from exc
    with db.session() as session:
        course = courses.get(session, platform_id, context_id)
        if course is None:
            raise ServiceError("the course was removed during the sync")
        return _apply_roster(session, course, establishment_id, issuer, members)


def _apply_roster(
    session: Session, course: LtiCourse, establishment_id: int, issuer: str, members: list[Any]
) -> RosterReport:
    report = RosterReport(members=len(members))
    roster: list[str] = []
    systems = (f"lti:{issuer}", f"xapi:{issuer.rstrip('/')}")
    for member in members:
        if not isinstance(member, dict):
            continue
        user_id = str(member.get("user_id") or "").strip()
        roles = member.get("roles") or []
        if not user_id or len(user_id) > 255 or member.get("status", "Active") != "Active":
            continue
        if not any(r in LEARNER_ROLES for r in roles if isinstance(r, str)):
            continue
        report.learners += 1
        roster.append(user_id)
        parts = (member.get("given_name"), member.get("family_name"))
        name = str(member.get("name") or " ".join(str(p) for p in parts if p) or "")[:255]
        email: str | None = str(member.get("email") or "").strip().lower()[:255] or None
        if email is not None and "@" not in email:
            email = None
        known = dict(
            session.execute(
                select(LearnerIdentifier.system, LearnerIdentifier.learner_id).where(
                    LearnerIdentifier.establishment_id == establishment_id,
                    LearnerIdentifier.system.in_(systems),
                    LearnerIdentifier.value == user_id,
                )
            ).all()
        )
        learner = session.get(Learner, next(iter(known.values()))) if known else None
        if learner is None:
            learner = Learner(establishment_id=establishment_id, display_name=name, email=email)
            session.add(learner)
            session.flush()
            report.created += 1
        elif (name and learner.display_name != name) or (email and learner.email != email):
            learner.display_name = name or learner.display_name
            learner.email = email or learner.email
            report.updated += 1
        for system in systems:
            if system not in known:
                session.add(
                    LearnerIdentifier(
                        establishment_id=establishment_id, learner_id=learner.id, system=system, value=user_id
                    )
                )
    course.roster = roster
    course.roster_synced_at = utcnow()
    course.roster_error = None
    session.flush()
    return report
