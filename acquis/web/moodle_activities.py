"""The course's activities as Moodle lists them (core_course_get_contents), for the teacher page.

Only when the establishment's ``moodle`` adapter is enabled; the course is the LTI course's
Moodle id (see acquis.lti.courses). Moodle being unreachable or refusing never breaks the page:
the page lists what statements taught acquis and says why Moodle's list is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from acquis.core import adapters
from acquis.core.errors import DeliveryError
from acquis.core.models import Activity, Establishment
from acquis.plugins.moodle.client import MoodleClient
from acquis.plugins.moodle.plugin import config_of
from acquis.plugins.moodle.sync import activity_id

TIMEOUT = 8.0  # seconds: the teacher is waiting for the page


@dataclass(frozen=True)
class ActivityView:
    id: int | None  # acquis' activity id, None for a module acquis has not heard of yet
    source_id: str  # the activity's URL, what tags name
    name: str


def merged(
    session: Session,
    est: Establishment,
    public_url: str,
    known: list[Activity],
    moodle_course_id: int | None,
    wwwroot: str,
) -> tuple[list[ActivityView], str | None]:
    """acquis' activities of the course, plus Moodle's modules not seen yet; and an error, if any."""
    views = [ActivityView(a.id, a.source_id, a.name or a.source_id) for a in known]
    if "moodle" not in adapters.enabled_names(session, est.id):
        return views, None
    if moodle_course_id is None:
        return views, "the Moodle course id of this course is unknown (see the README, course_id)"
    try:
        ctx = adapters.context(session, est, "moodle", public_url)
        client = MoodleClient(config_of(ctx.settings, timeout=TIMEOUT))
    except DeliveryError as exc:
        return views, str(exc)
    try:
        modules = client.course_modules(moodle_course_id)
    except DeliveryError as exc:
        return views, str(exc)
    finally:
        client.close()
    base = client.wwwroot
    if base != wwwroot.rstrip("/"):
        return views, f"the moodle adapter's wwwroot ({base}) is not this platform ({wwwroot})"
    seen = {v.source_id for v in views}
    for m in modules:
        if m.modname == "label":  # text on the course page, nothing to complete
            continue
        url = activity_id(base, m.modname, m.id)
        if url not in seen:
            views.append(ActivityView(None, url, m.name or url))
            seen.add(url)
    views.sort(key=lambda v: (v.name.lower(), v.source_id))
    return views, None
