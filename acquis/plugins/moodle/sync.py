"""Catch-up from Moodle's web services: completions the xAPI feed missed, and Moodle's own
activity–competency links as tags.

Identifiers are those of logstore_xapi, so that a learner and an activity seen through both
channels are one learner and one activity: the learner is ``xapi:<wwwroot>`` / Moodle user id,
the activity ``<wwwroot>/mod/<modname>/view.php?id=<cmid>``, the course
``<wwwroot>/course/view.php?id=<courseid>``.

The content hash of a web-service fact is a SHA-256 of what the fact says — site, user, module,
state, time of completion — under a ``moodle-ws`` label. Re-syncing an unchanged course gives the
same hashes, so the core's ON CONFLICT DO NOTHING stores nothing new. It cannot equal the hash of
the xAPI statement about the same completion: the core hashes the whole statement as
logstore_xapi wrote it (site and course names, plugin versions, language), which the web
services cannot reproduce. A completion seen through both channels is therefore stored twice,
with the same learner, activity, state and time; the rules engine recomputes a level from the
latest completion per activity, so the second row changes no validation and creates no award
(tests/integration/test_moodle_sync.py checks it). Making the rows themselves dedupe would need the
core to key completions on those fields rather than on the statement's bytes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import erasure, frameworks, tags
from acquis.core.errors import InvalidInput
from acquis.core.ingest import IngestResult, ingest
from acquis.core.models import Competency, Establishment, Level, ValidationRule
from acquis.core.plugins import PluginHost
from acquis.core.xapi import CompletionFact
from acquis.plugins.moodle.client import (
    STATE_COMPLETE,
    STATE_FAIL,
    STATE_PASS,
    CompletionStatus,
    Module,
    MoodleClient,
    User,
)

STATES = {STATE_COMPLETE: "completed", STATE_PASS: "passed", STATE_FAIL: "failed"}


def identifier_system(wwwroot: str) -> str:
    return f"xapi:{wwwroot.rstrip('/')}"


def activity_id(wwwroot: str, modname: str, cmid: int) -> str:
    return f"{wwwroot.rstrip('/')}/mod/{modname}/view.php?id={cmid}"


def course_ref(wwwroot: str, course_id: int) -> str:
    return f"{wwwroot.rstrip('/')}/course/view.php?id={course_id}"


def fact_hash(wwwroot: str, user_id: int, cmid: int, state: str, timecompleted: int) -> str:
    canonical = json.dumps(
        {
            "source": "moodle-ws",
            "wwwroot": wwwroot.rstrip("/"),
            "user": user_id,
            "cmid": cmid,
            "state": state,
            "timecompleted": timecompleted,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def to_fact(
    wwwroot: str, course_id: int, user: User, status: CompletionStatus, module: Module | None
) -> CompletionFact | None:
    """The completion fact of one status; None when the status says nothing datable.

    Incomplete (0) is skipped: Moodle keeps no time for it, so a catch-up cannot say when an
    activity was uncompleted (the xAPI feed's "uncompleted" statements carry that); a completed
    state without a time of completion is skipped for the same reason.
    """
    state = STATES.get(status.state)
    if state is None or status.timecompleted <= 0:
        return None
    modname = status.modname or (module.modname if module else "")
    if not modname:
        return None
    digest = fact_hash(wwwroot, user.id, status.cmid, state, status.timecompleted)
    return CompletionFact(
        statement_id=str(uuid.UUID(digest[:32])),
        source_id=None,
        content_hash=digest,
        identifier_system=identifier_system(wwwroot),
        identifier_value=str(user.id),
        learner_name=user.fullname[:255],
        learner_email=user.email.strip().lower() if user.email else None,
        activity_id=activity_id(wwwroot, modname, status.cmid),
        activity_name=(module.name if module else "")[:512],
        activity_type=None,
        course_ref=course_ref(wwwroot, course_id),
        state=state,
        grade=None,
        occurred_at=datetime.fromtimestamp(status.timecompleted, UTC),
    )


@dataclass
class SyncReport:
    users: int = 0
    statuses: int = 0
    skipped: int = 0  # incomplete, or without a time of completion
    stored: int = 0
    duplicates: int = 0
    erased: int = 0  # states of learners whose data was erased on request: dropped


def sync_completions(
    session_factory: Callable[[], AbstractContextManager[Session]],
    host: PluginHost,
    establishment_id: int,
    client: MoodleClient,
    course_id: int,
    progress: Callable[[int], None] | None = None,
    users: Iterable[User] | None = None,
) -> SyncReport:
    """Feed the completion states of every user enrolled in ``course_id`` through the pipeline.

    One transaction per user: a long sync interrupted half-way keeps what it stored, and a rerun
    stores only what is missing. ``session_factory`` opens a session whose context commits
    (``Database.session``).
    """
    modules = {m.id: m for m in client.course_modules(course_id)}
    report = SyncReport()
    for user in users if users is not None else client.enrolled_users(course_id):
        statuses = client.completion_statuses(course_id, user.id)
        facts = []
        for status in statuses:
            fact = to_fact(client.wwwroot, course_id, user, status, modules.get(status.cmid))
            if fact is None:
                report.skipped += 1
            else:
                facts.append(fact)
        result = IngestResult(0, 0)
        if facts:
            with session_factory() as session:
                kept = erasure.drop_erased(session, establishment_id, facts)
                report.erased += len(facts) - len(kept)
                result = ingest(session, host, establishment_id, kept)
        report.users += 1
        report.statuses += len(statuses)
        report.stored += result.stored
        report.duplicates += result.duplicates
        if progress is not None:
            progress(1)
    return report


@dataclass
class TagReport:
    created: list[tuple[str, str, str]] = field(default_factory=list)  # (activity, code, level)
    kept: list[tuple[str, str, str]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (activity, Moodle idnumber)
    applied: int = 0  # past completions looked at again: learners, counted once per new tag


def _level(comp: Competency, level: str | None) -> Level:
    if not comp.levels:
        raise InvalidInput(f"competency {comp.code} has no levels", field="--level")
    if level is None:
        return comp.levels[0]
    wanted = level.strip().casefold()
    for lv in comp.levels:
        if wanted in (str(lv.rank), lv.code.casefold(), lv.label.casefold()):
            return lv
    raise InvalidInput(f"no level {level!r} for {comp.code}", field="--level")


def import_tags(
    session: Session,
    host: PluginHost,
    est: Establishment,
    client: MoodleClient,
    course_id: int,
    framework: str,
    level: str | None = None,
) -> TagReport:
    """Tag each module of the course with the competencies Moodle links it to.

    Moodle's competency idnumbers are our codes (a framework imported from Moodle's CSV keeps
    them). A Moodle link says "this activity is evidence for that competency" without a level,
    so the tag targets ``level`` (rank, code or label) or else the competency's first level.
    A link already present as a single-activity completion tag is kept, so rerunning adds
    nothing; new tags are applied to past completions.
    """
    fw = frameworks.get(session, est, framework)
    by_code = {c.code: c for c in session.scalars(select(Competency).where(Competency.framework_id == fw.id))}
    report = TagReport()
    new_rules: list[ValidationRule] = []
    for module in client.course_modules(course_id):
        links = client.module_competencies(module.id)
        if not links:
            continue
        source = activity_id(client.wwwroot, module.modname, module.id)
        activity = tags.get_or_create_activity(session, est, source, module.name)
        for link in links:
            comp = by_code.get(link.idnumber)
            if comp is None:
                report.unknown.append((source, link.idnumber or link.shortname))
                continue
            lv = _level(comp, level)
            row = (source, comp.code, lv.label)
            existing = session.scalars(
                select(ValidationRule).where(
                    ValidationRule.establishment_id == est.id,
                    ValidationRule.level_id == lv.id,
                    ValidationRule.trigger == "completion",
                )
            ).all()
            if any([a.id for a in r.activities] == [activity.id] for r in existing):
                report.kept.append(row)
                continue
            new_rules.append(tags.add_rule(session, est, lv, [source], "completion", created_by="moodle"))
            report.created.append(row)
    for rule in new_rules:
        report.applied += tags.apply_to_past(session, host, est, rule)
    return report
