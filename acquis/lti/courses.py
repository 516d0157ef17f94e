"""The course a launch comes from, kept with the LTI Advantage services its launch offered.

Which Moodle course an LTI context is: Moodle sends its course id as the context claim's ``id``,
so that is used; a platform whose context ids are not Moodle course ids (another LMS in front
of Moodle, or a tool configured with a custom parameter) can say ``course_id=<id>`` in the
launch's custom parameters, which wins. In Moodle: the tool's "Custom parameters" field,
``course_id=$Context.id`` (Moodle substitutes the course id).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.models import LtiCourse, utcnow

AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
CUSTOM_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/custom"

# A teacher launch syncs the roster when the last sync is older than this: often enough that a
# student enrolled this morning has their email by the afternoon, rarely enough that a teacher
# opening acquis ten times an hour costs Moodle one roster read.
ROSTER_EVERY = timedelta(minutes=30)


def _url(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 1024:
        return None
    parsed = urlparse(value)
    return value if parsed.scheme in ("http", "https") and parsed.netloc else None


def ags_claim(body: dict[str, Any]) -> dict[str, Any] | None:
    """The AGS endpoint claim, kept only with what AGS defines and only if it is usable."""
    claim = body.get(AGS_CLAIM)
    if not isinstance(claim, dict):
        return None
    scope = claim.get("scope")
    kept: dict[str, Any] = {
        "scope": [s for s in scope if isinstance(s, str)] if isinstance(scope, list) else []
    }
    for name in ("lineitems", "lineitem"):
        if url := _url(claim.get(name)):
            kept[name] = url
    return kept if kept["scope"] and ("lineitems" in kept or "lineitem" in kept) else None


def nrps_url(body: dict[str, Any]) -> str | None:
    claim = body.get(NRPS_CLAIM)
    return _url(claim.get("context_memberships_url")) if isinstance(claim, dict) else None


def moodle_course_id(body: dict[str, Any], context_id: str) -> int | None:
    custom = body.get(CUSTOM_CLAIM)
    given = custom.get("course_id") if isinstance(custom, dict) else None
    for value in (given, context_id):
        if isinstance(value, str | int) and str(value).isdigit() and int(value) > 0:
            return int(value)
    return None


def record(
    session: Session, platform_id: int, deployment_id: str, context_id: str, title: str, body: dict[str, Any]
) -> LtiCourse:
    """Create or refresh the course of a verified launch; a launch without a service claim keeps
    the claims an earlier launch gave (a deep linking launch, say, carries none)."""
    course = session.scalar(
        select(LtiCourse).where(LtiCourse.platform_id == platform_id, LtiCourse.context_id == context_id)
    )
    if course is None:
        course = LtiCourse(platform_id=platform_id, context_id=context_id, deployment_id=deployment_id)
        session.add(course)
    course.deployment_id = deployment_id
    course.title = title[:255]
    course.moodle_course_id = moodle_course_id(body, context_id)
    if (ags := ags_claim(body)) is not None:
        course.ags = ags
    if (url := nrps_url(body)) is not None:
        course.nrps_url = url
    session.flush()
    return course


def get(session: Session, platform_id: int, context_id: str) -> LtiCourse | None:
    return session.scalar(
        select(LtiCourse).where(LtiCourse.platform_id == platform_id, LtiCourse.context_id == context_id)
    )


def roster_due(course: LtiCourse) -> bool:
    return course.nrps_url is not None and (
        course.roster_synced_at is None or utcnow() - course.roster_synced_at >= ROSTER_EVERY
    )
