"""The OBF fake answers with the shapes OBF really sends (recorded by OBF's Moodle plugin tests).

Each recorded response in the shared reference folder is compared, key by key and type by type,
with what the fake answers to the same call, so that the fake cannot drift from the contract the
client is written against.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from acquis.plugins.obf.client import IssueRequest, OBFClient, OBFConfig, Recipient
from tests.conftest import REFERENCE
from tests.fakes.obf import FakeOBF, running

OBF = REFERENCE / "obf"
# Free-form content the caller chooses (what we put in log_entry, the badge's email texts).
FREE = {"log_entry", "email_message"}


def _shape_diff(ref: Any, got: Any, path: str = "$") -> list[str]:
    """Differences of keys and value types between a recorded value and the fake's."""
    if ref is None:
        return []  # the recording shows null: any value (or null) is of that field's type
    if got is None:
        return [f"{path}: null, recorded {type(ref).__name__}"]
    if isinstance(ref, bool) or isinstance(got, bool):
        return [] if type(ref) is type(got) else [f"{path}: {type(got).__name__}, recorded bool"]
    if isinstance(ref, int | float) and isinstance(got, int | float):
        return []
    if type(ref) is not type(got):
        return [f"{path}: {type(got).__name__}, recorded {type(ref).__name__}"]
    if isinstance(ref, dict):
        if path.rsplit(".", 1)[-1] in FREE:
            return []
        diffs = [f"{path}: missing {k}" for k in ref.keys() - got.keys()]
        diffs += [f"{path}: extra {k}" for k in got.keys() - ref.keys()]
        for k in ref.keys() & got.keys():
            diffs += _shape_diff(ref[k], got[k], f"{path}.{k}")
        return diffs
    if isinstance(ref, list) and ref and got:
        return _shape_diff(ref[0], got[0], f"{path}[0]")
    return []


LINE_DELIMITED = {
    "get_v1_course_assertions.json",
    "get_v1_get_all_assertions.json",
    "get_v2_course_assertions.json",
}


def _recorded(name: str) -> Any:
    text = (OBF / name).read_text(encoding="utf-8")
    if name in LINE_DELIMITED:  # v1 lists: one JSON object a line
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)


@pytest.fixture
def fake_url() -> Iterator[tuple[FakeOBF, str, dict[str, str]]]:
    fake = FakeOBF(token_interval=0)
    fake.add_client("CID", "s3cret", (("SVIYGVaZCQa1Z", "The badge that no one has!"), ("B2", "Other")))
    with running(fake) as url:
        for version in ("v1", "v2"):
            client = OBFClient(OBFConfig("CID", "s3cret", url, version, timeout=2))
            client.issue(
                "SVIYGVaZCQa1Z",
                IssueRequest(
                    recipients=(Recipient("test@obfsolutions.com", "Admin User"),),
                    issued_on=datetime(2025, 8, 12, tzinfo=UTC),
                    log_entry={"acquis_award": f"award-{version}"},
                    email_subject="Well done",
                ),
            )
        token = requests.post(
            f"{url}/v2/client/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": "CID", "client_secret": "s3cret"},
            timeout=2,
        ).json()["access_token"]
        yield fake, url, {"Authorization": f"Bearer {token}"}


def _get(url: str, headers: dict[str, str], method: str = "GET", **kw: Any) -> requests.Response:
    resp = requests.request(method, url, headers=headers, timeout=2, **kw)
    assert resp.status_code < 300, resp.text
    return resp


def _v2_event_id(fake: FakeOBF) -> str:
    return next(e.id for e in fake.events.values() if e.api == "v2")


CASES: dict[str, Callable[[FakeOBF, str, dict[str, str]], Any]] = {
    "get_v2_badges.json": lambda fake, url, h: _get(f"{url}/v2/badge/CID", h).json(),
    "get_v2_event.json": lambda fake, url, h: _get(f"{url}/v2/event/CID", h).json(),
    "get_v2_assertions.json": lambda fake, url, h: _get(
        f"{url}/v2/event/CID", h, params={"badge_id": "SVIYGVaZCQa1Z"}
    ).json(),
    "get_v2_get_all_assertions.json": lambda fake, url, h: _get(f"{url}/v2/event/CID", h).json(),
    "get_v2_single_event.json": lambda fake, url, h: _get(
        f"{url}/v2/event/CID/{_v2_event_id(fake)}", h
    ).json(),
    "get_v2_single_recipients.json": lambda fake, url, h: _get(
        f"{url}/v2/event/CID/recipient", h, params={"event_id": _v2_event_id(fake)}
    ).json(),
    "get_v2_revoked.json": lambda fake, url, h: _get(f"{url}/v2/event/CID/recipient", h).json(),
    "post_v2_issue_badge.json": lambda fake, url, h: _get(
        f"{url}/v2/event/CID/B2/issue",
        h,
        method="POST",
        json={"recipient": [{"email": "a@b.fr", "name": "A"}], "api_consumer_id": "acquis"},
    ).json(),
    "put_v2_revoke_event.json": lambda fake, url, h: _get(
        f"{url}/v2/event/CID/{_v2_event_id(fake)}/revoke",
        h,
        method="PUT",
        json={"recipient": ["test@obfsolutions.com"]},
    ).json(),
    "get_v1_course_assertions.json": lambda fake, url, h: [
        json.loads(line) for line in _get(f"{url}/v1/event/CID", h).text.split("\r\n") if line
    ],
    "get_v1_get_all_assertions.json": lambda fake, url, h: [
        json.loads(line) for line in _get(f"{url}/v1/event/CID", h).text.split("\r\n") if line
    ],
    # Despite its name, this recording has the v1 event shape (newline-delimited, object log_entry).
    "get_v2_course_assertions.json": lambda fake, url, h: [
        json.loads(line) for line in _get(f"{url}/v1/event/CID", h).text.split("\r\n") if line
    ],
}
NOT_SERVED = {"get_v2_badge.json", "get_v2_client.json"}  # single badge and client info: unused


def test_every_recording_is_covered() -> None:
    assert {p.name for p in OBF.glob("*.json")} == set(CASES) | NOT_SERVED


@pytest.mark.parametrize("name", sorted(CASES))
def test_fake_matches_the_recorded_shape(name: str, fake_url: tuple[FakeOBF, str, dict[str, str]]) -> None:
    fake, url, headers = fake_url
    got = CASES[name](fake, url, headers)
    ref = _recorded(name)
    if isinstance(ref, dict) and isinstance(ref.get("result"), list):
        assert got["result"], "the fake returned an empty list: nothing to compare"
    assert _shape_diff(ref, got) == []


def test_shape_diff_catches_drift() -> None:
    """The comparison itself must fail on a missing key, an extra key or a wrong type."""
    ref = _recorded("get_v2_event.json")
    item = dict(ref["result"][0])
    item.pop("recipient_count")
    item["log_entry"] = "{}"
    item["issued_on"] = "2025-01-01"
    diffs = _shape_diff(ref, {"result": [item], "total": 1})
    assert any("missing recipient_count" in d for d in diffs)
    assert any("extra log_entry" in d for d in diffs)
    assert any("issued_on" in d for d in diffs)


def test_v2_list_leaves_log_entry_out_and_single_event_has_it_as_a_json_string(
    fake_url: tuple[FakeOBF, str, dict[str, str]],
) -> None:
    fake, url, headers = fake_url
    assert "log_entry" not in _get(f"{url}/v2/event/CID", headers).json()["result"][0]
    single = _get(f"{url}/v2/event/CID/{_v2_event_id(fake)}", headers).json()
    assert isinstance(single["log_entry"], str)
    assert json.loads(single["log_entry"]) == {"acquis_award": "award-v2"}


def test_v1_lists_are_crlf_delimited_json_and_issuing_answers_201_with_location(
    fake_url: tuple[FakeOBF, str, dict[str, str]],
) -> None:
    fake, url, headers = fake_url
    listing = _get(f"{url}/v1/event/CID", headers).text
    with pytest.raises(ValueError):
        json.loads(listing)  # not one JSON document
    assert listing.endswith("\r\n") and listing.count("\r\n") == len(fake.events)
    resp = requests.post(
        f"{url}/v1/badge/CID/B2", headers=headers, json={"recipient": ["Ann <ann@x.fr>"]}, timeout=2
    )
    assert resp.status_code == 201
    event_id = resp.headers["Location"].rsplit("/", 1)[-1]
    assert resp.headers["Location"] == f"/v1/event/CID/{event_id}"
    assert fake.events[event_id].recipients[0] == {"email": "ann@x.fr", "name": "Ann", "revoked": False}


def test_expired_tokens_get_403_and_tokens_are_rate_limited() -> None:
    fake = FakeOBF(token_interval=10)
    fake.add_client("CID", "s3cret")
    form = {"grant_type": "client_credentials", "client_id": "CID", "client_secret": "s3cret"}
    with running(fake) as url:
        first = requests.post(f"{url}/v2/client/oauth2/token", data=form, timeout=2)
        assert first.status_code == 200
        assert requests.post(f"{url}/v2/client/oauth2/token", data=form, timeout=2).status_code == 429
        headers = {"Authorization": f"Bearer {first.json()['access_token']}"}
        assert requests.get(f"{url}/v2/client/CID/ping", headers=headers, timeout=2).status_code == 200
        fake.expire_tokens()
        assert requests.get(f"{url}/v2/client/CID/ping", headers=headers, timeout=2).status_code == 403
