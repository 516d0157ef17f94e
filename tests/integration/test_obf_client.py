"""The OBF client against the HTTP fake: both API versions, tokens, and how failures are mapped."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from acquis.core.errors import OutcomeUnknownError, PermanentDeliveryError, TransientDeliveryError
from acquis.plugins.obf.client import IssueRequest, OBFClient, OBFConfig, Recipient
from tests.fakes.obf import FakeOBF, running

SECRET = "obf-secret-9b1e77"


class Clock:
    """The client's clock, moved by hand: token expiry and the 10 s rule without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeOBF:
    f = FakeOBF(token_interval=0, fault_sleep=0.6)
    f.add_client("CID", SECRET, (("B1", "Chercher l'information"), ("B2", "Gérer des données")))
    return f


@pytest.fixture
def url(fake: FakeOBF) -> Iterator[str]:
    with running(fake) as u:
        yield u


def _client(url: str, version: str = "v2", clock: Clock | None = None, **kw: Any) -> OBFClient:
    config = OBFConfig(
        client_id=kw.pop("client_id", "CID"),
        client_secret=kw.pop("secret", SECRET),
        api_url=url,
        api_version=version,  # type: ignore[arg-type]
        timeout=kw.pop("timeout", 0.3),
    )
    return OBFClient(config, clock=clock or Clock(), **kw)


def _request(award: str = "award-1", email: str = "ann@univ.fr", **kw: Any) -> IssueRequest:
    return IssueRequest(
        recipients=(Recipient(email, "Ann Dupont"),),
        issued_on=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        log_entry={"acquis_award": award},
        **kw,
    )


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_issue_find_and_revoke_round_trip(fake: FakeOBF, url: str, version: str) -> None:
    client = _client(url, version)
    client.ping()
    assert [(b.id, b.name) for b in client.list_badges()] == [
        ("B1", "Chercher l'information"),
        ("B2", "Gérer des données"),
    ]
    expires = datetime(2029, 1, 1, tzinfo=UTC)
    event_id = client.issue(
        "B1", _request(expires_on=expires, email_subject="Bravo", email_body="Votre badge", send_email=False)
    )
    assert fake.events[event_id].recipients == [
        {"email": "ann@univ.fr", "name": "Ann Dupont", "revoked": False}
    ]
    assert fake.events[event_id].api_consumer_id == "acquis"
    assert fake.events[event_id].expires_on == int(expires.timestamp())
    found = list(client.iter_events_with_log("B1", "ann@univ.fr"))
    assert [(e.id, entry) for e, entry in found] == [(event_id, {"acquis_award": "award-1"})]
    assert client.find_events("B2", "ann@univ.fr") == []
    assert client.find_events("B1", "bob@univ.fr") == []
    client.revoke(event_id, ["ann@univ.fr"])
    assert fake.events[event_id].recipients[0]["revoked"] is True


def test_issue_bodies_follow_each_api_version(fake: FakeOBF, url: str) -> None:
    """v2: recipient objects and email_message; v1: "Name <email>" strings and flat email_* keys."""
    _client(url, "v2").issue("B1", _request(email_subject="Bravo"))
    _client(url, "v1").issue("B1", _request(email_subject="Bravo"))
    v2, v1 = (body for method, _path, body in fake.requests_log if method == "POST" and body)
    assert v2["recipient"] == [{"email": "ann@univ.fr", "name": "Ann Dupont"}]
    assert v2["email_message"]["subject"] == "Bravo" and "email_subject" not in v2
    assert v2["send_email"] is True and v2["show_report"] is True
    assert v2["issued_on"] == int(datetime(2026, 11, 2, 10, 0, tzinfo=UTC).timestamp())
    assert v2["log_entry"] == {"acquis_award": "award-1"} and v2["api_consumer_id"] == "acquis"
    assert v1["recipient"] == ["Ann Dupont <ann@univ.fr>"]
    assert v1["email_subject"] == "Bravo" and "email_message" not in v1
    assert v1["send_email"] == 1


def test_the_token_is_cached_until_it_expires(fake: FakeOBF, url: str) -> None:
    fake.token_lifetime = 3600
    clock = Clock()
    client = _client(url, clock=clock)
    for _ in range(5):
        client.ping()
    assert fake.token_requests["CID"] == 1
    clock.now += 3600  # past expiry (the client renews a little early)
    client.ping()
    assert fake.token_requests["CID"] == 2
    assert fake.calls["GET /v2/client/<client_id>/ping"] == 6  # no 403 round trip was needed


def test_a_403_renews_the_token_once_and_retries_once(fake: FakeOBF, url: str) -> None:
    clock = Clock()
    client = _client(url, clock=clock)
    client.ping()
    fake.expire_tokens()  # OBF-side expiry our clock does not know about
    clock.now += 30
    client.ping()
    assert fake.token_requests["CID"] == 2
    assert fake.calls["GET /v2/client/<client_id>/ping"] == 3  # ok, 403, ok


def test_a_403_that_survives_a_new_token_is_permanent_and_not_retried_again(fake: FakeOBF, url: str) -> None:
    clock = Clock()
    client = _client(url, clock=clock)
    client.ping()
    fake.forbidden.add("CID")
    clock.now += 30
    with pytest.raises(PermanentDeliveryError) as err:
        client.ping()
    assert "client_id" in str(err.value) and SECRET not in str(err.value)
    assert fake.token_requests["CID"] == 2
    assert fake.calls["GET /v2/client/<client_id>/ping"] == 3  # ok, 403, 403: then it stops


def test_never_more_than_one_token_per_ten_seconds(fake: FakeOBF, url: str) -> None:
    clock = Clock()
    client = _client(url, clock=clock)
    client.ping()
    fake.expire_tokens()
    clock.now += 5  # the token is 5 s old: a new one now would break the 10 s rule
    with pytest.raises(PermanentDeliveryError, match="freshly issued"):
        client.ping()
    assert fake.token_requests["CID"] == 1
    clock.now += 6  # 11 s after the first token
    client.ping()
    assert fake.token_requests["CID"] == 2


def test_a_failed_token_request_is_not_repeated_within_ten_seconds(fake: FakeOBF, url: str) -> None:
    clock = Clock()
    fake.clients["CID"] = "rotated"  # credentials briefly wrong
    client = _client(url, clock=clock)
    with pytest.raises(PermanentDeliveryError):
        client.ping()
    fake.clients["CID"] = SECRET
    with pytest.raises(TransientDeliveryError, match="10 seconds"):
        client.ping()
    assert fake.token_requests["CID"] == 1
    clock.now += 10
    client.ping()
    assert fake.token_requests["CID"] == 2


def test_bad_credentials_say_what_to_fix_without_the_secret(fake: FakeOBF, url: str) -> None:
    client = _client(url, secret="wrong-secret-42")
    with pytest.raises(PermanentDeliveryError) as err:
        client.ping()
    message = str(err.value)
    assert "client_id" in message and "client_secret" in message
    assert "wrong-secret-42" not in message and SECRET not in message
    assert "wrong-secret-42" not in repr(client.config)


def test_token_rate_limit_from_obf_is_transient(fake: FakeOBF, url: str) -> None:
    fake.token_interval = 60
    _client(url).ping()  # another process of ours took the token a moment ago
    with pytest.raises(TransientDeliveryError, match="429"):
        _client(url).ping()


def test_an_unknown_badge_is_permanent_and_names_the_fix(fake: FakeOBF, url: str) -> None:
    with pytest.raises(PermanentDeliveryError, match="404") as err:
        _client(url).issue("NOPE", _request())
    assert "sync-badges" in str(err.value)
    assert fake.events == {}


def test_an_unreachable_obf_is_transient_even_when_issuing() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: connection refused
    client = _client(f"http://127.0.0.1:{port}")
    with pytest.raises(TransientDeliveryError):
        client.ping()


@pytest.mark.parametrize(
    ("kind", "reading", "issuing"),
    [
        ("error", TransientDeliveryError, OutcomeUnknownError),
        ("timeout", TransientDeliveryError, OutcomeUnknownError),
        ("accept_timeout", TransientDeliveryError, OutcomeUnknownError),
    ],
)
def test_failures_after_sending_are_unknown_outcomes_only_when_issuing(
    fake: FakeOBF, url: str, kind: str, reading: type[Exception], issuing: type[Exception]
) -> None:
    client = _client(url)
    client.ping()  # token first: faults are injected on API calls only
    fake.fault_rate, fake.fault_kinds = 1.0, (kind,)
    with pytest.raises(reading):
        client.find_events("B1", "ann@univ.fr")
    with pytest.raises(issuing):
        client.issue("B1", _request())
    fake.fault_rate = 0.0
    issued = [entry for _e, entry in client.iter_events_with_log("B1", "ann@univ.fr")]
    # Only "accept then time out" acted: exactly what reconciliation has to find.
    assert issued == ([{"acquis_award": "award-1"}] if kind == "accept_timeout" else [])


def test_timeouts_are_always_set(fake: FakeOBF, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(url, "v2", timeout=0.3)
    seen: list[Any] = []
    original = client.http.request

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("timeout"))
        return original(*args, **kwargs)

    monkeypatch.setattr(client.http, "request", spy)
    monkeypatch.setattr(client.http, "post", lambda *a, **k: spy("POST", *a, **k))
    client.ping()
    client.list_badges()
    client.issue("B1", _request())
    assert seen and all(t == (0.3, 0.3) for t in seen)


def test_legacy_client_certificate_is_written_privately_and_removed(url: str) -> None:
    cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    client = OBFClient(OBFConfig("CID", None, url, "v1", certificate=cert, private_key=key))
    assert not client.uses_oauth
    files = client.http.cert
    assert isinstance(files, tuple)
    cert_path, key_path = files
    assert Path(cert_path).read_text(encoding="utf-8") == cert
    assert Path(key_path).read_text(encoding="utf-8") == key
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    client.close()
    assert not os.path.exists(key_path)


def test_paging_reads_every_event(fake: FakeOBF, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from acquis.plugins.obf import client as client_module

    monkeypatch.setattr(client_module, "PAGE", 2)
    client = _client(url)
    for n in range(5):
        client.issue("B1", _request(award=f"a{n}"))
    found = client.find_events("B1", "ann@univ.fr")
    assert len(found) == 5
    assert len(client.list_badges()) == 2
    assert fake.calls["GET /v2/event/<client_id>"] == 3


def test_refused_connection_when_issuing_is_transient_not_unknown() -> None:
    """Nothing was sent, so nothing needs reconciling: a plain retry is safe."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = _client(f"http://127.0.0.1:{port}", secret=None)  # no token step: the POST itself fails
    with pytest.raises(TransientDeliveryError):
        client.issue("B1", _request())


def test_log_entry_is_read_from_a_v2_listing_when_present_as_a_json_string() -> None:
    """Recorded v2 lists leave log_entry out (the single event is read then); if OBF includes it,
    as a JSON string like in the single event, it is used without the extra call."""
    from acquis.plugins.obf.client import _event

    listed = _event({"id": "E1", "badge_id": "B1", "log_entry": '{"acquis_award": "a1"}'})
    assert listed.log_entry == {"acquis_award": "a1"}
    assert _event({"id": "E1", "badge_id": "B1"}).log_entry is None
    assert _event({"id": "E1", "badge_id": "B1", "log_entry": {"acquis_award": "a1"}}).log_entry == {
        "acquis_award": "a1"
    }
