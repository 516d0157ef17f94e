"""An HTTP fake of Moodle's REST web service server (webservice/rest/server.php).

It follows Moodle's protocol where the adapter depends on it:

* a POST form with ``wstoken``, ``wsfunction``, ``moodlewsrestformat=json``, and parameters in
  PHP's form encoding (``options[0][name]=…``), parsed into nested arrays as PHP does and checked
  against each function's declared parameters the way ``external_api::validate_parameters``
  does: a scalar where an array is expected, an array where a scalar is expected, a value of the
  wrong type, a missing required key or an unexpected key all get ``invalid_parameter_exception``
  / ``invalidparameter`` — at HTTP 200, like every Moodle error;
* errors as ``{"exception", "errorcode", "message"}``: ``invalidtoken`` for an unknown token,
  ``accessexception`` for a function outside the token's service, ``nopermissions`` for a
  missing capability, ``invalidrecord`` for an unknown function or course;
* web services disabled: HTTP 403 with an empty body, as server.php answers;
* the functions' parameter names and result shapes (core_webservice_get_site_info,
  core_course_get_contents, core_enrol_get_enrolled_users,
  core_completion_get_activities_completion_status, core_competency_list_course_competencies,
  core_competency_list_course_module_competencies, core_competency_grade_competency_in_course).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request

from tests.live import serve

ALL_FUNCTIONS = (
    "core_webservice_get_site_info",
    "core_course_get_contents",
    "core_enrol_get_enrolled_users",
    "core_completion_get_activities_completion_status",
    "core_competency_list_course_module_competencies",
    "core_competency_list_course_competencies",
    "core_competency_grade_competency_in_course",
    "tool_lp_data_for_user_competency_summary_in_course",
)
ALL_CAPABILITIES = frozenset(
    {
        "moodle/course:viewparticipants",
        "report/completion:view",
        "moodle/competency:competencygrade",
        "moodle/competency:coursecompetencyview",
        "moodle/competency:usercompetencyview",
    }
)


# ---- parameter descriptions, after core_external's external_value / single / multiple ----------
@dataclass(frozen=True)
class Value:
    type: str  # int, bool, raw, alphanumext
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class Single:
    keys: dict[str, Any]
    required: bool = True


@dataclass(frozen=True)
class Multiple:
    item: Any
    required: bool = False  # every multiple parameter of these functions has a default


CODING = "Coding error detected, it must be fixed by a programmer: "


class InvalidParameter(Exception):
    pass


_OPTIONS = Multiple(Single({"name": Value("alphanumext"), "value": Value("raw")}))
SIGNATURES: dict[str, dict[str, Any]] = {
    "core_webservice_get_site_info": {"serviceshortnames": Multiple(Value("alphanumext"))},
    "core_course_get_contents": {"courseid": Value("int"), "options": _OPTIONS},
    "core_enrol_get_enrolled_users": {"courseid": Value("int"), "options": _OPTIONS},
    "core_completion_get_activities_completion_status": {"courseid": Value("int"), "userid": Value("int")},
    "core_competency_list_course_module_competencies": {"cmid": Value("int")},
    "core_competency_list_course_competencies": {"id": Value("int")},
    "core_competency_grade_competency_in_course": {
        "courseid": Value("int"),
        "userid": Value("int"),
        "competencyid": Value("int"),
        "grade": Value("int"),
        "note": Value("raw", required=False),
    },
    "tool_lp_data_for_user_competency_summary_in_course": {
        "userid": Value("int"),
        "competencyid": Value("int"),
        "courseid": Value("int"),
    },
}

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def php_parse(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Nested arrays from ``name[a][b]=v`` pairs, as PHP builds $_POST (later values win)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        m = _KEY_RE.match(key)
        if m is None:
            out[key] = value
            continue
        path = [m.group(1), *re.findall(r"\[([^\[\]]*)\]", m.group(2))]
        node = out
        for part in path[:-1]:
            name = part if part != "" else str(len(node))  # name[] appends, as in PHP
            child = node.get(name)
            if not isinstance(child, dict):
                child = {}
                node[name] = child
            node = child
        last = path[-1] if path[-1] != "" else str(len(node))
        node[last] = value
    return out


def _clean(value: Any, desc: Value, where: str) -> Any:
    if isinstance(value, dict):
        raise InvalidParameter(
            f'{where} => Invalid external api parameter: the value is "array", the server was '
            f'expecting "{desc.type}" type'
        )
    text = str(value)
    wrong = InvalidParameter(
        f'{where} => Invalid external api parameter: the value is "{text}", '
        f'the server was expecting "{desc.type}" type'
    )
    if desc.type == "int" and not re.fullmatch(r"-?\d+", text):
        raise wrong
    if desc.type == "bool" and text not in ("0", "1", "true", "false"):
        raise wrong
    if desc.type == "alphanumext" and not re.fullmatch(r"[A-Za-z0-9_\-]*", text):
        raise wrong
    if desc.type == "int":
        return int(text)
    if desc.type == "bool":
        return text in ("1", "true")
    return text


def validate(desc: Any, value: Any, where: str) -> Any:
    if isinstance(desc, Value):
        return _clean(value, desc, where)
    if isinstance(desc, Multiple):
        if not isinstance(value, dict):
            raise InvalidParameter(f"{where} => Only arrays accepted. The bad value is: '{value}'")
        return [validate(desc.item, v, f"{where} => {k}") for k, v in value.items()]
    assert isinstance(desc, Single)
    if not isinstance(value, dict):
        raise InvalidParameter(f"{where} => Only arrays accepted. The bad value is: '{value}'")
    unexpected = [k for k in value if k not in desc.keys]
    if unexpected:
        raise InvalidParameter(f"Unexpected keys ({', '.join(unexpected)}) detected in parameter array.")
    result: dict[str, Any] = {}
    for key, sub in desc.keys.items():
        if key in value:
            result[key] = validate(sub, value[key], f"{where} => {key}" if where else key)
        elif sub.required:
            raise InvalidParameter(f"Missing required key in single structure: {key}")
        elif isinstance(sub, Multiple):
            result[key] = []
        else:
            result[key] = sub.default if isinstance(sub, Value) else None
    return result


class MoodleException(Exception):
    def __init__(self, exception: str, errorcode: str, message: str, debuginfo: str | None = None) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"exception": exception, "errorcode": errorcode, "message": message}
        if debuginfo is not None:
            self.body["debuginfo"] = debuginfo


def _invalid(debuginfo: str) -> MoodleException:
    return MoodleException(
        "invalid_parameter_exception", "invalidparameter", "Invalid parameter value detected", debuginfo
    )


# ---- the site ------------------------------------------------------------------------------------
@dataclass
class FakeToken:
    user_id: int
    functions: frozenset[str] = frozenset(ALL_FUNCTIONS)
    capabilities: frozenset[str] = ALL_CAPABILITIES


@dataclass
class FakeMoodle:
    wwwroot: str = ""  # set by running(); what URLs in answers are built from
    sitename: str = "Moodle Test"
    webservices_enabled: bool = True
    tokens: dict[str, FakeToken] = field(default_factory=dict)
    users: dict[int, dict[str, Any]] = field(default_factory=dict)  # id → {fullname, email}
    courses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)  # id → sections
    enrolments: dict[int, list[int]] = field(default_factory=dict)  # course → user ids
    completions: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (user, cmid)
    competencies: dict[int, dict[str, Any]] = field(default_factory=dict)  # id → {idnumber, shortname, scale}
    course_competencies: dict[int, list[int]] = field(default_factory=dict)
    module_competencies: dict[int, list[int]] = field(default_factory=dict)  # cmid → competency ids
    ratings: dict[tuple[int, int, int], int] = field(default_factory=dict)  # (course, user, competency)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    forms: list[list[tuple[str, str]]] = field(default_factory=list)  # raw forms, in order
    delay: float = 0.0  # seconds before answering (to test timeouts)
    outage: int | None = None  # an HTTP status answered to everything (a proxy's 503)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._seq = 0

    # ---- set-up ------------------------------------------------------------------------------
    def add_user(self, user_id: int, fullname: str, email: str | None = None) -> None:
        self.users[user_id] = {"fullname": fullname, "email": email}

    def add_course(self, course_id: int, modules: list[tuple[int, str, str]]) -> None:
        """One section holding ``modules`` as (cmid, modname, name)."""
        self.courses[course_id] = [
            {
                "id": course_id * 100,
                "name": "General",
                "section": 0,
                "modules": [
                    {"id": cmid, "name": name, "modname": modname, "instance": cmid + 1000, "completion": 1}
                    for cmid, modname, name in modules
                ],
            }
        ]

    def enrol(self, course_id: int, *user_ids: int) -> None:
        self.enrolments.setdefault(course_id, []).extend(user_ids)

    def add_competency(
        self, comp_id: int, idnumber: str, scale: int = 5, courses: tuple[int, ...] = ()
    ) -> None:
        self.competencies[comp_id] = {
            "idnumber": idnumber,
            "shortname": f"Competency {idnumber}",
            "scale": scale,
        }
        for c in courses:
            self.course_competencies.setdefault(c, []).append(comp_id)

    def _module(self, cmid: int) -> tuple[int, dict[str, Any]] | None:
        for course_id, sections in self.courses.items():
            for s in sections:
                for m in s["modules"]:
                    if m["id"] == cmid:
                        return course_id, m
        return None

    # ---- the functions -----------------------------------------------------------------------
    def _require(self, token: FakeToken, capability: str, label: str) -> None:
        if capability not in token.capabilities:
            raise MoodleException(
                "required_capability_exception",
                "nopermissions",
                f"Sorry, but you do not currently have permissions to do that ({label}).",
            )

    def _course(self, course_id: int) -> list[dict[str, Any]]:
        if course_id not in self.courses:
            raise MoodleException(
                "dml_missing_record_exception",
                "invalidrecord",
                "Can't find data record in database table course.",
            )
        return self.courses[course_id]

    def _competency(self, comp_id: int) -> dict[str, Any]:
        c = self.competencies[comp_id]
        return {
            "id": comp_id,
            "shortname": c["shortname"],
            "idnumber": c["idnumber"],
            "description": "",
            "descriptionformat": 1,
            "sortorder": 0,
            "parentid": 0,
            "path": "/0/",
            "ruleoutcome": 0,
            "ruletype": None,
            "ruleconfig": None,
            "scaleid": None,
            "scaleconfiguration": None,
            "competencyframeworkid": 1,
            "timecreated": 0,
            "timemodified": 0,
            "usermodified": 2,
        }

    def run(self, token: FakeToken, function: str, p: dict[str, Any]) -> Any:
        if function == "core_webservice_get_site_info":
            user = self.users.get(token.user_id, {"fullname": "Web service"})
            return {
                "sitename": self.sitename,
                "username": f"user{token.user_id}",
                "firstname": "Web",
                "lastname": "Service",
                "fullname": user["fullname"],
                "lang": "en",
                "userid": token.user_id,
                "siteurl": self.wwwroot,
                "userpictureurl": f"{self.wwwroot}/theme/image.php/boost/core/1/u/f1",
                "functions": [{"name": f, "version": "2024100700"} for f in sorted(token.functions)],
                "downloadfiles": 0,
                "uploadfiles": 0,
                "release": "4.5 (Build: 20241007)",
                "version": "2024100700",
            }
        if function == "core_course_get_contents":
            sections = self._course(p["courseid"])
            return [
                {
                    **{k: v for k, v in s.items() if k != "modules"},
                    "visible": 1,
                    "summary": "",
                    "summaryformat": 1,
                    "uservisible": True,
                    "modules": [
                        {
                            **m,
                            "url": f"{self.wwwroot}/mod/{m['modname']}/view.php?id={m['id']}",
                            "visible": 1,
                            "uservisible": True,
                            "modplural": m["modname"] + "s",
                        }
                        for m in s["modules"]
                    ],
                }
                for s in sections
            ]
        if function == "core_enrol_get_enrolled_users":
            self._course(p["courseid"])
            self._require(token, "moodle/course:viewparticipants", "View participants")
            opts = {o["name"]: o["value"] for o in p["options"]}
            known = {
                "withcapability",
                "groupid",
                "onlyactive",
                "onlysuspended",
                "userfields",
                "limitfrom",
                "limitnumber",
                "sortby",
                "sortdirection",
            }
            bad = [n for n in opts if n not in known]
            if bad:
                raise _invalid(f"Invalid option name: {bad[0]}")
            ids = self.enrolments.get(p["courseid"], [])
            start, number = int(opts.get("limitfrom", 0)), int(opts.get("limitnumber", 0))
            ids = ids[start : start + number] if number else ids[start:]
            fields = opts.get("userfields")
            wanted = set(fields.split(",")) if fields else None
            out = []
            for uid in ids:
                u = self.users[uid]
                full = {"id": uid, "username": f"user{uid}", "fullname": u["fullname"], "email": u["email"]}
                out.append(
                    {
                        k: v
                        for k, v in full.items()
                        if (wanted is None or k in wanted or k == "id") and v is not None
                    }
                )
            return out
        if function == "core_completion_get_activities_completion_status":
            sections = self._course(p["courseid"])
            if p["userid"] != token.user_id:
                self._require(token, "report/completion:view", "View course completion report")
            if p["userid"] not in self.enrolments.get(p["courseid"], []):
                raise MoodleException(
                    "moodle_exception", "notenrolled", "User is not enrolled in this course"
                )
            statuses = []
            for s in sections:
                for m in s["modules"]:
                    state, when = self.completions.get((p["userid"], m["id"]), (0, 0))
                    statuses.append(
                        {
                            "cmid": m["id"],
                            "modname": m["modname"],
                            "instance": m["instance"],
                            "state": state,
                            "timecompleted": when,
                            "tracking": 2,
                            "overrideby": None,
                            "valueused": False,
                            "hascompletion": True,
                            "isautomatic": True,
                            "istrackeduser": True,
                            "uservisible": True,
                            "details": [],
                        }
                    )
            return {"statuses": statuses, "warnings": []}
        if function == "core_competency_list_course_module_competencies":
            found = self._module(p["cmid"])
            if found is None:
                raise MoodleException(
                    "dml_missing_record_exception",
                    "invalidrecord",
                    "Can't find data record in database table course_modules.",
                )
            self._require(token, "moodle/competency:coursecompetencyview", "View course competencies")
            return [
                {
                    "competency": self._competency(cid),
                    "coursemodulecompetency": {
                        "cmid": p["cmid"],
                        "competencyid": cid,
                        "sortorder": i,
                        "ruleoutcome": 1,
                        "overridegrade": False,
                        "id": p["cmid"] * 1000 + cid,
                        "timecreated": 0,
                        "timemodified": 0,
                        "usermodified": 2,
                    },
                }
                for i, cid in enumerate(self.module_competencies.get(p["cmid"], []))
            ]
        if function == "core_competency_list_course_competencies":
            self._course(p["id"])
            self._require(token, "moodle/competency:coursecompetencyview", "View course competencies")
            return [
                {
                    "competency": self._competency(cid),
                    "coursecompetency": {
                        "courseid": p["id"],
                        "competencyid": cid,
                        "sortorder": i,
                        "ruleoutcome": 1,
                        "id": p["id"] * 1000 + cid,
                        "timecreated": 0,
                        "timemodified": 0,
                        "usermodified": 2,
                    },
                }
                for i, cid in enumerate(self.course_competencies.get(p["id"], []))
            ]
        if function == "core_competency_grade_competency_in_course":
            course_id, user_id, comp_id, grade = p["courseid"], p["userid"], p["competencyid"], p["grade"]
            self._course(course_id)
            self._require(token, "moodle/competency:competencygrade", "Rate competencies")
            if comp_id not in self.course_competencies.get(course_id, []):
                raise MoodleException(
                    "coding_exception",
                    "codingerror",
                    CODING + "The competency does not belong to this course",
                )
            if user_id not in self.enrolments.get(course_id, []):
                raise MoodleException(
                    "coding_exception",
                    "codingerror",
                    CODING + "The competency may not be rated at this time.",
                )
            if not 1 <= grade <= self.competencies[comp_id]["scale"]:
                raise MoodleException(
                    "coding_exception",
                    "codingerror",
                    CODING + "The grade is out of range",
                )
            self.ratings[(course_id, user_id, comp_id)] = grade
            self._seq += 1
            ev = {
                "id": self._seq,
                "usercompetencyid": user_id * 1000 + comp_id,
                "contextid": course_id,
                "action": 3,
                "actionuserid": token.user_id,
                "descidentifier": "evidence_manualoverrideincourse",
                "desccomponent": "core_competency",
                "desca": "",
                "url": "",
                "grade": grade,
                "note": p["note"],
                "timecreated": int(time.time()),
                "timemodified": int(time.time()),
                "usermodified": token.user_id,
            }
            self.evidence.append(ev)
            return ev
        if function == "tool_lp_data_for_user_competency_summary_in_course":
            course_id, user_id, comp_id = p["courseid"], p["userid"], p["competencyid"]
            self._course(course_id)
            self._require(token, "moodle/competency:usercompetencyview", "View user competencies")
            if comp_id not in self.competencies:
                raise MoodleException(
                    "dml_missing_record_exception",
                    "invalidrecord",
                    "Can't find data record in database table competency.",
                )
            grade = self.ratings.get((course_id, user_id, comp_id))
            ucid = user_id * 1000 + comp_id
            return {
                "usercompetencysummary": {
                    "showrelatedcompetencies": False,
                    "cangrade": True,
                    "competency": {"competency": self._competency(comp_id)},
                    "user": {"id": user_id, "fullname": self.users.get(user_id, {}).get("fullname", "")},
                    "usercompetencycourse": {
                        "userid": user_id,
                        "courseid": course_id,
                        "competencyid": comp_id,
                        "proficiency": None if grade is None else 1,
                        "grade": grade,
                        "id": ucid,
                        "timecreated": 0,
                        "timemodified": 0,
                        "usermodified": 2,
                    },
                    "evidence": [e for e in reversed(self.evidence) if e["usercompetencyid"] == ucid],
                    "commentarea": None,
                },
                "course": {"id": course_id},
                "coursemodules": [],
                "plans": [],
                "pluginbaseurl": f"{self.wwwroot}/admin/tool/lp",
            }
        raise AssertionError(function)

    def app(self) -> Flask:
        app = Flask("fake_moodle")

        @app.post("/webservice/rest/server.php")
        def server() -> Response:
            if self.delay:
                time.sleep(self.delay)
            if self.outage is not None:
                return Response("<html>Service Unavailable</html>", status=self.outage, mimetype="text/html")
            if not self.webservices_enabled:
                return Response("", status=403)
            pairs = list(request.form.items(multi=True))
            with self.lock:
                self.forms.append(pairs)
                try:
                    return _json(self._dispatch(pairs))
                except MoodleException as exc:
                    return _json(exc.body)

        return app

    def _dispatch(self, pairs: list[tuple[str, str]]) -> Any:
        params = php_parse(pairs)
        token_value = params.pop("wstoken", None)
        function = params.pop("wsfunction", None)
        params.pop("moodlewsrestformat", None)
        token = self.tokens.get(token_value) if isinstance(token_value, str) else None
        if token is None:
            raise MoodleException("moodle_exception", "invalidtoken", "Invalid token - token not found")
        if not isinstance(function, str) or function not in SIGNATURES:
            raise MoodleException(
                "dml_missing_record_exception",
                "invalidrecord",
                "Can't find data record in database table external_functions.",
            )
        if function not in token.functions:
            raise MoodleException(
                "webservice_access_exception", "accessexception", "Access control exception"
            )
        try:
            validated = validate(Single(SIGNATURES[function]), params, "")
        except InvalidParameter as exc:
            raise _invalid(str(exc)) from None
        self.calls[function] += 1
        return self.run(token, function, validated)


def _json(body: Any) -> Response:
    import json

    return Response(json.dumps(body), status=200, mimetype="application/json")


@contextmanager
def running(fake: FakeMoodle) -> Iterator[str]:
    with serve(fake.app()) as url:
        fake.wwwroot = url
        yield url


TOKEN = "ws-token-7f3a9c2e"
COURSE = 7
T0 = 1_767_000_000  # 2025-12-29T09:20:00Z


def demo_site(fake: FakeMoodle) -> FakeMoodle:
    """A course of four modules, three learners in every completion state, three competencies
    linked to the course (C1, C2 are codes of tests.helpers.DEMO_FRAMEWORK; X9 is not)."""
    fake.tokens[TOKEN] = FakeToken(user_id=2)
    fake.add_user(2, "Web Service")
    fake.add_course(
        COURSE,
        [(11, "quiz", "Quiz 1"), (12, "assign", "Essay"), (13, "page", "Reading"), (14, "quiz", "Final")],
    )
    fake.add_user(101, "Alice Martin", "Alice.Martin@univ-a.fr")
    fake.add_user(102, "Bruno Petit", "bruno.petit@univ-a.fr")
    fake.add_user(103, "Chloé Roux")
    fake.enrol(COURSE, 101, 102, 103)
    fake.completions.update(
        {
            (101, 11): (2, T0 + 100),  # passed
            (101, 12): (1, T0 + 200),  # completed
            (102, 11): (3, T0 + 300),  # failed
            (102, 12): (0, 0),  # incomplete
            (103, 11): (1, T0 + 400),  # completed, without a pass mark
            (103, 14): (2, T0 + 500),
        }
    )
    fake.add_competency(501, "C1", scale=5, courses=(COURSE,))
    fake.add_competency(502, "C2", scale=5, courses=(COURSE,))
    fake.add_competency(503, "X9", scale=3, courses=(COURSE,))
    fake.module_competencies.update({11: [501], 12: [502], 14: [501, 503]})
    return fake
