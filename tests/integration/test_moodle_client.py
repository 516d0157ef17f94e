"""The Moodle REST client against the HTTP fake: parameter encoding, results, error mapping."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import requests

from acquis.core.errors import PermanentDeliveryError, TransientDeliveryError
from acquis.core.events import AdapterContext, EstablishmentRef
from acquis.plugins.moodle.client import (
    FUNCTIONS,
    MoodleClient,
    MoodleConfig,
    MoodleError,
    encode_params,
)
from acquis.plugins.moodle.plugin import MoodlePlugin
from tests.fakes.moodle import ALL_FUNCTIONS, COURSE, T0, TOKEN, FakeMoodle, FakeToken, demo_site, running


@pytest.fixture
def fake() -> FakeMoodle:
    return demo_site(FakeMoodle())


@pytest.fixture
def url(fake: FakeMoodle) -> Iterator[str]:
    with running(fake) as u:
        yield u


def _client(url: str, token: str = TOKEN, timeout: float = 5.0) -> MoodleClient:
    return MoodleClient(MoodleConfig(url + "/", token, timeout))


def _ctx(**settings: object) -> AdapterContext:
    return AdapterContext(EstablishmentRef(1, "univ-a", "Université A", "fr"), settings, "http://acquis.test")


def test_parameters_are_encoded_as_php_arrays() -> None:
    assert encode_params(
        {"courseid": 7, "options": [{"name": "onlyactive", "value": True}, {"name": "limitfrom", "value": 0}]}
    ) == [
        ("courseid", "7"),
        ("options[0][name]", "onlyactive"),
        ("options[0][value]", "1"),
        ("options[1][name]", "limitfrom"),
        ("options[1][value]", "0"),
    ]
    assert encode_params({"note": None, "nested": {"a": {"b": False}}}) == [("nested[a][b]", "0")]


def test_reads_follow_moodle_signatures(fake: FakeMoodle, url: str) -> None:
    client = _client(url)
    assert client.wwwroot == url  # the trailing slash is dropped, as logstore_xapi's ids have none
    info = client.site_info()
    assert info["sitename"] == "Moodle Test" and {f["name"] for f in info["functions"]} == set(ALL_FUNCTIONS)
    modules = client.course_modules(COURSE)
    assert [(m.id, m.modname, m.name) for m in modules][:2] == [
        (11, "quiz", "Quiz 1"),
        (12, "assign", "Essay"),
    ]
    users = list(client.enrolled_users(COURSE, page=2))  # paged: 2 + 1
    assert [(u.id, u.fullname, u.email) for u in users] == [
        (101, "Alice Martin", "Alice.Martin@univ-a.fr"),
        (102, "Bruno Petit", "bruno.petit@univ-a.fr"),
        (103, "Chloé Roux", None),
    ]
    assert fake.calls["core_enrol_get_enrolled_users"] == 2
    statuses = {s.cmid: (s.state, s.timecompleted) for s in client.completion_statuses(COURSE, 101)}
    assert statuses == {11: (2, T0 + 100), 12: (1, T0 + 200), 13: (0, 0), 14: (0, 0)}
    assert [c.idnumber for c in client.module_competencies(14)] == ["C1", "X9"]
    assert [c.id for c in client.course_competencies(COURSE)] == [501, 502, 503]
    # What went over the wire for one call: the protocol's three fields and PHP-style arrays.
    form = dict(fake.forms[2])
    assert form["wsfunction"] == "core_enrol_get_enrolled_users" and form["moodlewsrestformat"] == "json"
    assert form["options[2][name]"] == "limitnumber" and form["options[2][value]"] == "2"


def test_grading_sends_the_documented_parameters(fake: FakeMoodle, url: str) -> None:
    evidence = _client(url).grade_in_course(COURSE, 101, 502, 3, "validated by acquis")
    assert fake.ratings == {(COURSE, 101, 502): 3}
    assert evidence["grade"] == 3 and evidence["note"] == "validated by acquis"
    assert dict(fake.forms[-1]) == {
        "wstoken": TOKEN,
        "wsfunction": "core_competency_grade_competency_in_course",
        "moodlewsrestformat": "json",
        "courseid": str(COURSE),
        "userid": "101",
        "competencyid": "502",
        "grade": "3",
        "note": "validated by acquis",
    }
    _client(url).grade_in_course(COURSE, 101, 502, 4)  # note has a default: left out
    assert "note" not in dict(fake.forms[-1]) and fake.evidence[-1]["note"] is None


@pytest.mark.parametrize(
    ("form", "debug"),
    [
        ({"courseid": "7", "options": '[{"name": "limitfrom", "value": 0}]'}, "Only arrays accepted"),
        ({"courseid[0]": "7"}, 'the value is "array"'),
        ({"courseid": "seven"}, 'expecting "int"'),
        ({}, "Missing required key in single structure: courseid"),
        ({"courseid": "7", "limit": "5"}, "Unexpected keys (limit)"),
        (
            {"courseid": "7", "options[0][name]": "limitfrom"},
            "Missing required key in single structure: value",
        ),
    ],
)
def test_the_fake_rejects_wrong_encodings_as_moodle_does(url: str, form: dict[str, str], debug: str) -> None:
    resp = requests.post(
        url + "/webservice/rest/server.php",
        data={
            "wstoken": TOKEN,
            "wsfunction": "core_enrol_get_enrolled_users",
            "moodlewsrestformat": "json",
            **form,
        },
        timeout=5,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["exception"] == "invalid_parameter_exception" and body["errorcode"] == "invalidparameter"
    assert debug in body["debuginfo"]


def test_invalidparameter_is_a_moodle_error(url: str) -> None:
    with pytest.raises(MoodleError) as caught:
        _client(url).call("core_completion_get_activities_completion_status", courseid=COURSE, userid="x")
    assert caught.value.errorcode == "invalidparameter"
    assert isinstance(caught.value, PermanentDeliveryError)


def test_an_invalid_token_says_how_to_fix_it_without_showing_it(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(PermanentDeliveryError) as caught:
        _client(url, token="wrong-token-123").site_info()
    message = str(caught.value)
    assert "does not know this token" in message and "Manage tokens" in message
    assert "wrong-token-123" not in message and "wrong-token-123" not in caplog.text
    assert "wrong-token-123" not in repr(_client(url, token="wrong-token-123"))
    assert "wrong-token-123" not in repr(MoodleConfig(url, "wrong-token-123"))


def test_a_function_outside_the_service_and_a_missing_capability(fake: FakeMoodle, url: str) -> None:
    fake.tokens["narrow"] = FakeToken(
        user_id=2,
        functions=frozenset(ALL_FUNCTIONS) - {"core_competency_grade_competency_in_course"},
        capabilities=frozenset(),
    )
    client = _client(url, "narrow")
    with pytest.raises(MoodleError, match="add the function to the token's external service") as e1:
        client.grade_in_course(COURSE, 101, 501, 1)
    assert e1.value.errorcode == "accessexception"
    with pytest.raises(MoodleError, match="lacks a capability") as e2:
        list(client.enrolled_users(COURSE))
    assert e2.value.errorcode == "nopermissions" and "View participants" in str(e2.value)


def test_other_moodle_exceptions_keep_moodle_s_message(url: str) -> None:
    with pytest.raises(MoodleError, match="does not belong to this course"):
        _client(url).grade_in_course(COURSE, 101, 999, 1)


def test_disabled_web_services_wrong_url_and_unreachable_site(fake: FakeMoodle, url: str) -> None:
    fake.webservices_enabled = False
    with pytest.raises(PermanentDeliveryError, match="enable web services"):
        _client(url).site_info()
    fake.webservices_enabled = True
    with pytest.raises(PermanentDeliveryError, match="check wwwroot"):
        _client(url + "/moodle").site_info()  # 404
    with pytest.raises(TransientDeliveryError, match="cannot reach Moodle"):
        _client("http://127.0.0.1:9").site_info()
    fake.outage = 503
    with pytest.raises(TransientDeliveryError, match="answered 503"):
        _client(url).site_info()


def test_a_slow_site_times_out_as_transient(fake: FakeMoodle, url: str) -> None:
    fake.delay = 0.5
    with pytest.raises(TransientDeliveryError, match="did not answer in time"):
        _client(url, timeout=0.1).site_info()


def test_check_reports_what_to_fix(fake: FakeMoodle, url: str) -> None:
    plugin = MoodlePlugin(timeout=2)
    ok = plugin.check(_ctx(wwwroot=url, token=TOKEN, course_id=COURSE))
    assert ok.ok and "ratings go to course 7" in ok.message
    no_course = plugin.check(_ctx(wwwroot=url, token=TOKEN))
    assert no_course.ok and "no course_id" in no_course.message
    bad = plugin.check(_ctx(wwwroot=url, token="nope"))
    assert not bad.ok and "token" in bad.message and "nope" not in bad.message
    fake.tokens["partial"] = FakeToken(user_id=2, functions=frozenset(ALL_FUNCTIONS[:3]))
    partial = plugin.check(_ctx(wwwroot=url, token="partial"))
    assert not partial.ok and "core_competency_grade_competency_in_course" in partial.message
    assert set(partial.details["missing_functions"]) == set(FUNCTIONS) - set(ALL_FUNCTIONS[:3])
    fake.tokens["weak"] = FakeToken(user_id=2, capabilities=frozenset())
    weak = plugin.check(_ctx(wwwroot=url, token="weak", course_id=COURSE))
    assert not weak.ok and "capability" in weak.message
    fake.webservices_enabled = False
    off = plugin.check(_ctx(wwwroot=url, token=TOKEN))
    assert not off.ok and "REST protocol" in off.message
    unset = plugin.check(_ctx())
    assert not unset.ok and "wwwroot" in unset.message
