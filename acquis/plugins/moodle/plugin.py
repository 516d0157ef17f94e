"""Hook implementations of the Moodle web services adapter (entry point ``moodle``).

Write-back: a validated level is rated in Moodle with core_competency_grade_competency_in_course.
That needs a course, a Moodle user and a Moodle competency:

* the course is the ``course_id`` setting. Hooks get no database session, and the validation
  event carries evidence references (``completion:12``), not the courses of the activities
  behind them, so the course cannot come from the evidence without a change to the core (the
  event would have to carry the evidence's ``course_ref``). Until then one course per
  establishment receives the ratings; without ``course_id`` nothing is written back;
* the Moodle user is the learner's ``xapi:<wwwroot>`` identifier (what logstore_xapi and the
  catch-up sync record); a learner never seen through this Moodle is skipped;
* the Moodle competency is the course's competency whose idnumber is our competency code (a
  framework imported from Moodle's CSV keeps Moodle's idnumbers); others are skipped;
* the rating is the level's position in Moodle's scale, which numbers values from 1: ``level_rank
  - scale_start + 1`` (``scale_start`` is the rank of the scale's first level, 1 by default, 0 for
  a 0–3 scale). A level below Moodle's scale is skipped.

Idempotency per ``ctx.delivery_id``: Moodle takes no idempotency key, so the note of the evidence
Moodle records with a rating carries the delivery id, and before rating, the user's rating and
evidence in the course are read (tool_lp_data_for_user_competency_summary_in_course, what Moodle's
own course competency page uses). Nothing is written when that evidence already carries this
delivery, or when the current rating is already at or above the level: a lower level delivered
late (a retry after a higher one) never lowers a rating, and a teacher's higher rating stands.
Deliveries already written by this process are not even looked up again.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from acquis.core.errors import DeliveryError, PermanentDeliveryError
from acquis.core.events import (
    AdapterContext,
    AdapterSpec,
    CheckResult,
    SettingField,
    ValidationEvent,
)
from acquis.core.hookspecs import hookimpl
from acquis.plugins.moodle.client import MoodleClient, MoodleConfig, missing_functions
from acquis.plugins.moodle.sync import identifier_system

log = logging.getLogger("acquis.plugins.moodle")

NAME = "moodle"
DONE_CACHE = 10_000  # delivery ids remembered per process

SETTINGS = (
    SettingField(
        "wwwroot",
        "Moodle URL",
        kind="url",
        required=True,
        help="the address of the Moodle site's home page, as $CFG->wwwroot (e.g. https://moodle.univ.fr)",
    ),
    SettingField(
        "token",
        "Web service token",
        kind="secret",
        required=True,
        help="Site administration > Server > Web services > Manage tokens; for a user allowed to "
        "read enrolments and completions and to rate competencies",
    ),
    SettingField(
        "course_id",
        "Course for competency ratings",
        kind="integer",
        help="the Moodle course id in which validated levels are rated; empty: no write-back",
    ),
    SettingField(
        "scale_start",
        "Rank of the scale's first level",
        kind="integer",
        default=1,
        help="Moodle numbers scale values from 1; 0 when the framework's scale starts at 0",
    ),
    SettingField("write_back", "Rate validated levels in Moodle", kind="boolean", default=True),
)


def _setting(settings: Mapping[str, Any], name: str) -> Any:
    value = settings.get(name)
    if value in (None, ""):
        f = next(f for f in SETTINGS if f.name == name)
        return f.default
    return value


def config_of(settings: Mapping[str, Any], timeout: float = 30.0) -> MoodleConfig:
    wwwroot = _setting(settings, "wwwroot")
    token = _setting(settings, "token")
    if not wwwroot:
        raise PermanentDeliveryError("set the Moodle URL: acquis adapter set <slug> moodle wwwroot=https://…")
    if not token:
        raise PermanentDeliveryError(
            "set the Moodle web service token: acquis adapter set <slug> moodle token=…"
        )
    return MoodleConfig(wwwroot=str(wwwroot).rstrip("/"), token=str(token), timeout=timeout)


def _int(settings: Mapping[str, Any], name: str) -> int | None:
    value = _setting(settings, name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise PermanentDeliveryError(
            f"the moodle setting {name} must be a whole number, not {value!r}"
        ) from None


class MoodlePlugin:
    """The adapter; ``timeout`` is the HTTP read timeout in seconds (tests use a fraction)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._done: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def client(self, ctx: AdapterContext) -> MoodleClient:
        return MoodleClient(config_of(ctx.settings, self.timeout))

    @hookimpl
    def adapter_spec(self) -> AdapterSpec:
        return AdapterSpec(
            name=NAME,
            title="Moodle (web services)",
            description=(
                "Reads enrolments, completions and activity–competency links through Moodle's "
                "web services (acquis moodle sync-completions, import-tags) and rates validated "
                "levels back in a Moodle course."
            ),
            settings=SETTINGS,
            check=self.check,
        )

    def check(self, ctx: AdapterContext) -> CheckResult:
        try:
            client = self.client(ctx)
            info = client.site_info()
            course_id = _int(ctx.settings, "course_id")
            if course_id is not None:
                # Reads that need the capabilities the adapter relies on, answered with
                # "nopermissions" when the token's user lacks them.
                next(iter(client.enrolled_users(course_id, page=1)), None)
                client.course_competencies(course_id)
        except DeliveryError as exc:
            return CheckResult(ok=False, message=str(exc))
        missing = missing_functions(info)
        who = f"{info.get('sitename', '?')} as {info.get('username', '?')}"
        if missing:
            return CheckResult(
                ok=False,
                message=(
                    f"connected to {who}, but the token's external service lacks {', '.join(missing)}: "
                    "add them (Site administration > Server > Web services > External services > Functions)"
                ),
                details={"missing_functions": missing},
            )
        if course_id is None:
            return CheckResult(
                ok=True,
                message=f"connected to {who}; no course_id set, so validated levels are not rated in Moodle",
            )
        return CheckResult(ok=True, message=f"connected to {who}; ratings go to course {course_id}")

    # ---- write-back --------------------------------------------------------------------------
    def _seen(self, delivery_id: str | None) -> bool:
        if delivery_id is None:
            return False
        with self._lock:
            return delivery_id in self._done

    def _remember(self, delivery_id: str | None) -> None:
        if delivery_id is None:
            return
        with self._lock:
            self._done[delivery_id] = None
            while len(self._done) > DONE_CACHE:
                self._done.popitem(last=False)

    @hookimpl
    def competency_validated(self, ctx: AdapterContext, validation: ValidationEvent) -> None:
        if validation.status != "validated" or not _setting(ctx.settings, "write_back"):
            return
        course_id = _int(ctx.settings, "course_id")
        if course_id is None or self._seen(ctx.delivery_id):
            return
        client = self.client(ctx)
        try:
            self._rate(ctx, client, course_id, validation)
        finally:
            client.close()

    def _rate(
        self, ctx: AdapterContext, client: MoodleClient, course_id: int, validation: ValidationEvent
    ) -> None:
        user = validation.learner.identifiers.get(identifier_system(client.wwwroot))
        if user is None or not user.isdigit():
            log.info(
                "moodle write-back: learner %s is not a user of %s", validation.learner.id, client.wwwroot
            )
            return
        grade = validation.level_rank - int(_setting(ctx.settings, "scale_start")) + 1
        if grade < 1:
            return
        competency = next(
            (c for c in client.course_competencies(course_id) if c.idnumber == validation.competency_code),
            None,
        )
        if competency is None:
            log.info(
                "moodle write-back: no competency %s in course %s", validation.competency_code, course_id
            )
            return
        marker = f"(validation {validation.id}, delivery {ctx.delivery_id})"
        current, notes = client.rating_in_course(course_id, int(user), competency.id)
        if any(marker in n for n in notes) or (current is not None and current >= grade):
            self._remember(ctx.delivery_id)
            return
        note = f"acquis: {validation.competency_code} {validation.level_label} validated {marker}"
        client.grade_in_course(course_id, int(user), competency.id, grade, note)
        self._remember(ctx.delivery_id)


plugin = MoodlePlugin()  # what the entry point registers
