"""A client of Moodle's REST web services for one site and one token.

Moodle's REST protocol (webservice/rest/server.php) takes every call as a POST form with
``wstoken``, ``wsfunction`` and ``moodlewsrestformat=json``, and the function's parameters in
PHP's form encoding: nested arrays are written ``options[0][name]=onlyactive``. Moodle answers
errors with HTTP 200 and ``{"exception", "errorcode", "message"[, "debuginfo"]}``; a site whose
web services or REST protocol are disabled answers 403 with an empty body.

How errors are mapped (every message is meant for the IT admin and never carries the token):

* ``invalidtoken``, ``accessexception`` (function not in the token's service, IP restriction,
  token's user suspended), ``nopermissions`` (a capability is missing), ``enablewsdescription``,
  ``servicenotavailable``, HTTP 401/403/404, an answer that is not JSON (wrong URL) →
  ``PermanentDeliveryError`` saying what to fix;
* ``invalidparameter`` and any other Moodle exception → ``PermanentDeliveryError`` with
  Moodle's own message: a retry sends the same parameters and gets the same answer;
* database errors reported by Moodle (``dmlreadexception``, ``dmlwriteexception``…), HTTP 5xx,
  timeouts and connection failures → ``TransientDeliveryError``. The only write this client makes
  (rating a competency in a course) sets a value, so sending it twice is harmless and an unknown
  outcome is simply retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from acquis.core.errors import PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger("acquis.plugins.moodle")

REST_PATH = "/webservice/rest/server.php"

# What the adapter calls; the check verifies the token's service offers all of them.
FUNCTIONS = (
    "core_webservice_get_site_info",
    "core_course_get_contents",
    "core_enrol_get_enrolled_users",
    "core_completion_get_activities_completion_status",
    "core_competency_list_course_module_competencies",
    "core_competency_list_course_competencies",
    "core_competency_grade_competency_in_course",
    "tool_lp_data_for_user_competency_summary_in_course",
)

# core_completion's states (lib/completionlib.php): COMPLETION_INCOMPLETE, COMPLETE,
# COMPLETE_PASS, COMPLETE_FAIL.
STATE_INCOMPLETE, STATE_COMPLETE, STATE_PASS, STATE_FAIL = 0, 1, 2, 3

_TRANSIENT_CODES = {"dmlreadexception", "dmlwriteexception", "dmltransactionexception", "ddlexception"}


class MoodleError(PermanentDeliveryError):
    """Moodle answered with an exception; ``errorcode`` is Moodle's (e.g. ``invalidparameter``)."""

    def __init__(self, message: str, errorcode: str = "", function: str = "") -> None:
        super().__init__(message)
        self.errorcode = errorcode
        self.function = function


@dataclass(frozen=True)
class MoodleConfig:
    wwwroot: str
    token: str
    timeout: float = 30.0  # seconds, for reading a response; connecting gets min(timeout, 10)

    def __repr__(self) -> str:  # the token stays out of tracebacks and logs
        return f"MoodleConfig(wwwroot={self.wwwroot!r})"


@dataclass(frozen=True)
class Module:
    """A course module as core_course_get_contents lists it."""

    id: int  # the cmid
    name: str
    modname: str
    url: str | None


@dataclass(frozen=True)
class User:
    id: int
    fullname: str
    email: str | None


@dataclass(frozen=True)
class CompletionStatus:
    cmid: int
    modname: str
    state: int
    timecompleted: int


@dataclass(frozen=True)
class MoodleCompetency:
    id: int
    idnumber: str
    shortname: str


def encode_params(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten ``params`` the way PHP parses forms: ``name[0][key]=value``.

    Booleans become 1/0 (what PARAM_BOOL accepts) and None leaves the parameter out, so that
    Moodle applies its default instead of receiving an empty string.
    """
    out: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(f"{prefix}[{key}]", item)
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                walk(f"{prefix}[{i}]", item)
        elif isinstance(value, bool):
            out.append((prefix, "1" if value else "0"))
        else:
            out.append((prefix, str(value)))

    for name, value in params.items():
        walk(name, value)
    return out


def _fix_for(errorcode: str, message: str, function: str, wwwroot: str) -> str:
    """Moodle's error, reworded to say what the admin should change."""
    if errorcode == "invalidtoken":
        return (
            f"Moodle at {wwwroot} does not know this token: create one (Site administration > Server > "
            "Web services > Manage tokens) and set it: acquis adapter set <slug> moodle token=…"
        )
    if errorcode == "accessexception":
        return (
            f"Moodle refused {function} for this token ({message}): add the function to the token's "
            "external service (Site administration > Server > Web services > External services > "
            "Functions), and check the token's IP restriction and that its user is active"
        )
    if errorcode == "nopermissions":
        return (
            f"the token's Moodle user lacks a capability for {function} ({message}): give its role "
            "that capability: moodle/competency:competencygrade and moodle/competency:usercompetencyview "
            "to rate competencies, moodle/course:viewparticipants and report/completion:view to read "
            "completions, moodle/competency:coursecompetencyview to read competency links"
        )
    if errorcode in ("enablewsdescription", "servicenotavailable"):
        return (
            f"web services are not available on Moodle at {wwwroot} ({message}): enable web services "
            "and the REST protocol (Site administration > Advanced features; Server > Web services > "
            "Manage protocols) and the token's external service"
        )
    return f"Moodle refused {function}: {message} ({errorcode})"


class MoodleClient:
    """One establishment's connection to one Moodle site. Thread-safe as requests' Session is
    for plain POSTs; workers share it per establishment."""

    def __init__(self, config: MoodleConfig, session: requests.Session | None = None) -> None:
        if not config.wwwroot:
            raise PermanentDeliveryError(
                "the Moodle URL is not set: acquis adapter set <slug> moodle wwwroot=https://…"
            )
        if not config.token:
            raise PermanentDeliveryError(
                "the Moodle web service token is not set: acquis adapter set <slug> moodle token=…"
            )
        self.config = config
        self.wwwroot = config.wwwroot.rstrip("/")
        self.http = session or requests.Session()

    def __repr__(self) -> str:
        return f"MoodleClient({self.wwwroot!r})"

    @property
    def _timeouts(self) -> tuple[float, float]:
        return (min(self.config.timeout, 10.0), self.config.timeout)

    def close(self) -> None:
        self.http.close()

    # ---- the protocol ------------------------------------------------------------------------
    def call(self, function: str, **params: Any) -> Any:
        """Call ``function`` with ``params``; the decoded JSON answer, or a delivery error."""
        url = self.wwwroot + REST_PATH
        form = [
            ("wstoken", self.config.token),
            ("wsfunction", function),
            ("moodlewsrestformat", "json"),
            *encode_params(params),
        ]
        try:
            resp = self.http.post(url, data=form, timeout=self._timeouts, allow_redirects=False)
        except requests.Timeout:
            raise TransientDeliveryError(
                f"Moodle at {self.wwwroot} did not answer in time ({function})"
            ) from None
        except requests.ConnectionError:
            raise TransientDeliveryError(
                f"cannot reach Moodle at {self.wwwroot} ({function}): check wwwroot and the network"
            ) from None
        except requests.RequestException as exc:
            raise TransientDeliveryError(
                f"Moodle request failed ({function}): {type(exc).__name__}"
            ) from None
        code = resp.status_code
        if code >= 500:
            raise TransientDeliveryError(f"Moodle answered {code} to {function}; will retry")
        if code == 403:
            raise PermanentDeliveryError(
                f"Moodle at {self.wwwroot} refused the REST protocol (403): enable web services "
                "(Site administration > Advanced features) and the REST protocol (Server > Web "
                "services > Manage protocols)"
            )
        if code in (301, 302, 303, 307, 308, 404) or code >= 400:
            raise PermanentDeliveryError(
                f"no Moodle web service at {url} ({code}): check wwwroot, the address of the Moodle "
                "site's home page (without /login or /my)"
            )
        try:
            body = resp.json()
        except ValueError:
            raise PermanentDeliveryError(
                f"{url} did not answer as Moodle's REST server does (not JSON): check wwwroot"
            ) from None
        if isinstance(body, dict) and "exception" in body and "errorcode" in body:
            errorcode = str(body.get("errorcode") or "")
            message = str(body.get("message") or "")
            log.info("moodle %s: %s %s", function, body.get("exception"), errorcode)
            if errorcode in _TRANSIENT_CODES:
                raise TransientDeliveryError(f"Moodle had a database error in {function}; will retry")
            raise MoodleError(_fix_for(errorcode, message, function, self.wwwroot), errorcode, function)
        return body

    # ---- functions ---------------------------------------------------------------------------
    def site_info(self) -> dict[str, Any]:
        body = self.call("core_webservice_get_site_info")
        if not isinstance(body, dict):
            raise PermanentDeliveryError("Moodle's site info is not an object: check wwwroot")
        return body

    def course_modules(self, course_id: int) -> list[Module]:
        sections = self.call("core_course_get_contents", courseid=course_id)
        modules: list[Module] = []
        for section in sections if isinstance(sections, list) else []:
            for m in section.get("modules") or []:
                modules.append(
                    Module(int(m["id"]), str(m.get("name") or ""), str(m["modname"]), m.get("url"))
                )
        return modules

    def enrolled_users(self, course_id: int, page: int = 500) -> Iterator[User]:
        """Every enrolled user, a page at a time (limitfrom/limitnumber), so that a large course is
        not read in one answer."""
        start = 0
        while True:
            users = self.call(
                "core_enrol_get_enrolled_users",
                courseid=course_id,
                options=[
                    {"name": "userfields", "value": "id,fullname,email"},
                    {"name": "limitfrom", "value": start},
                    {"name": "limitnumber", "value": page},
                ],
            )
            batch = users if isinstance(users, list) else []
            for u in batch:
                yield User(int(u["id"]), str(u.get("fullname") or ""), u.get("email") or None)
            if len(batch) < page:
                return
            start += page

    def completion_statuses(self, course_id: int, user_id: int) -> list[CompletionStatus]:
        body = self.call(
            "core_completion_get_activities_completion_status", courseid=course_id, userid=user_id
        )
        statuses = body.get("statuses") if isinstance(body, dict) else None
        return [
            CompletionStatus(
                int(s["cmid"]), str(s.get("modname") or ""), int(s["state"]), int(s.get("timecompleted") or 0)
            )
            for s in statuses or []
        ]

    def module_competencies(self, cmid: int) -> list[MoodleCompetency]:
        body = self.call("core_competency_list_course_module_competencies", cmid=cmid)
        return [_competency(item["competency"]) for item in body if isinstance(body, list)]

    def course_competencies(self, course_id: int) -> list[MoodleCompetency]:
        body = self.call("core_competency_list_course_competencies", id=course_id)
        return [_competency(item["competency"]) for item in body if isinstance(body, list)]

    def rating_in_course(
        self, course_id: int, user_id: int, competency_id: int
    ) -> tuple[int | None, list[str]]:
        """The user's current rating of the competency in the course (None: not rated) and the
        notes of its evidence, read from the page data Moodle's own course competency report uses."""
        body = self.call(
            "tool_lp_data_for_user_competency_summary_in_course",
            userid=user_id,
            competencyid=competency_id,
            courseid=course_id,
        )
        summary = body.get("usercompetencysummary") if isinstance(body, dict) else None
        summary = summary if isinstance(summary, dict) else {}
        ucc = summary.get("usercompetencycourse")
        grade = ucc.get("grade") if isinstance(ucc, dict) else None
        notes = [
            str(e.get("note")) for e in summary.get("evidence") or [] if isinstance(e, dict) and e.get("note")
        ]
        return (int(grade) if grade is not None else None), notes

    def grade_in_course(
        self, course_id: int, user_id: int, competency_id: int, grade: int, note: str | None = None
    ) -> dict[str, Any]:
        body = self.call(
            "core_competency_grade_competency_in_course",
            courseid=course_id,
            userid=user_id,
            competencyid=competency_id,
            grade=grade,
            note=note,
        )
        return body if isinstance(body, dict) else {}


def _competency(data: Mapping[str, Any]) -> MoodleCompetency:
    return MoodleCompetency(
        int(data["id"]), str(data.get("idnumber") or ""), str(data.get("shortname") or "")
    )


def missing_functions(site_info: Mapping[str, Any], wanted: Sequence[str] = FUNCTIONS) -> list[str]:
    offered = {f.get("name") for f in site_info.get("functions") or [] if isinstance(f, Mapping)}
    return [f for f in wanted if f not in offered]
