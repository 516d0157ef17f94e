"""The foundation's end-to-end path, over HTTP: statement → completion → validation → award → assertion."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from acquis.core.models import Award, Completion, Learner, OutboxMessage, Validation
from acquis.core.runtime import Runtime
from acquis.core.worker import Worker
from acquis.web.app import create_app
from tests import helpers
from tests.live import serve


def _count(rt: Runtime, model: Any) -> int:
    with rt.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
def live(runtime: Runtime) -> Any:
    with runtime.db.session() as s:
        tenant = helpers.make_tenant(s, runtime.host, "univ-a")
        other = helpers.make_tenant(s, runtime.host, "univ-b")
        helpers.tag(s, tenant, [1], "C1", "Novice")
    runtime.worker = Worker(runtime.db, runtime.host, runtime.settings.public_url, poll_interval=0.05)
    runtime.worker.start_thread()
    with serve(create_app(runtime)) as base:
        yield base, tenant, other


def _post(base: str, slug: str, auth: tuple[str, str] | None, body: Any, **kw: Any) -> requests.Response:
    return requests.post(f"{base}/e/{slug}/xapi/statements", json=body, auth=auth, timeout=10, **kw)


def test_statement_to_fetched_assertion(live: Any, runtime: Runtime) -> None:
    base, tenant, _ = live
    auth = (tenant.cred.key, tenant.cred.secret)
    statement = helpers.reference_statement()

    first = _post(base, "univ-a", auth, [statement])
    assert first.status_code == 200, first.text
    assert first.headers["X-Acquis-Stored"] == "1"
    assert len(first.json()) == 1

    again = _post(base, "univ-a", auth, [statement])  # logstore_xapi resends: nothing new
    assert again.status_code == 200
    assert again.headers["X-Acquis-Stored"] == "0"
    assert again.json() == first.json()  # the same statement id both times
    assert _count(runtime, Completion) == 1

    with runtime.db.session() as s:
        v = s.scalars(select(Validation)).one()
        assert v.status == "validated" and v.method == "rule"

    def issued() -> bool:
        with runtime.db.session() as s:
            return s.scalar(select(Award.status)) == "issued"

    _wait_for(issued)
    with runtime.db.session() as s:
        award = s.scalars(select(Award)).one()
        assert award.emitter == "openbadges"
        local_url = award.receipt["url"].replace(runtime.settings.public_url, base)

    assertion = requests.get(local_url, timeout=10)
    assert assertion.status_code == 200
    assert assertion.headers["Content-Type"].startswith("application/ld+json")
    doc = assertion.json()
    assert doc["type"] == "Assertion" and doc["verification"] == {"type": "HostedBadge"}
    assert doc["recipient"]["hashed"] is True and doc["recipient"]["identity"].startswith("sha256$")
    assert doc["evidence"][0]["id"] == statement["object"]["id"]

    badge = requests.get(doc["badge"].replace(runtime.settings.public_url, base), timeout=10).json()
    assert badge["type"] == "BadgeClass"
    assert badge["alignment"][0]["targetCode"] == "C1#novice"
    issuer = requests.get(badge["issuer"].replace(runtime.settings.public_url, base), timeout=10).json()
    assert issuer["type"] == "Issuer" and issuer["name"] == "Université univ-a"
    image = requests.get(badge["image"].replace(runtime.settings.public_url, base), timeout=10)
    assert image.status_code == 200 and image.text.startswith("<svg")


def _failed() -> dict[str, Any]:
    st = helpers.reference_statement()
    st["result"]["success"] = False
    return st


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(_failed, id="success-false"),
        pytest.param(lambda: helpers.reference_statement("module-uncompleted"), id="uncompleted"),
    ],
)
def test_failure_or_uncompleted_validates_nothing(live: Any, runtime: Runtime, make: Any) -> None:
    base, tenant, _ = live
    response = _post(base, "univ-a", (tenant.cred.key, tenant.cred.secret), [make()])
    assert response.status_code == 200
    assert response.headers["X-Acquis-Stored"] == "1"  # the fact is kept…
    assert _count(runtime, Validation) == 0  # …but validates nothing
    assert _count(runtime, Award) == 0


def test_wrong_or_foreign_credentials_store_nothing(live: Any, runtime: Runtime) -> None:
    base, tenant, other = live
    st = [helpers.reference_statement()]
    assert _post(base, "univ-a", None, st).status_code == 401
    wrong = _post(base, "univ-a", (tenant.cred.key, "not-the-secret"), st)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Basic")
    assert _post(base, "univ-a", ("nobody", "x"), st).status_code == 401
    foreign = _post(base, "univ-a", (other.cred.key, other.cred.secret), st)
    assert foreign.status_code == 403
    assert _count(runtime, Completion) == 0
    assert _count(runtime, Learner) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([{"verb": {"id": "http://adlnet.gov/expapi/verbs/completed"}}], "statements[0].actor"),
        ("not a list", "body"),
        ([], "body"),
    ],
)
def test_malformed_statement_is_400_naming_the_field(
    live: Any, runtime: Runtime, body: Any, field: str
) -> None:
    base, tenant, _ = live
    response = _post(base, "univ-a", (tenant.cred.key, tenant.cred.secret), body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert _count(runtime, Completion) == 0


def test_one_bad_statement_in_a_batch_stores_none_of_it(live: Any, runtime: Runtime) -> None:
    base, tenant, _ = live
    good = helpers.statement(user="7", cmid=1)
    bad = helpers.statement(user="8", cmid=1)
    bad["object"]["id"] = "not an iri"
    response = _post(base, "univ-a", (tenant.cred.key, tenant.cred.secret), [good, bad])
    assert response.status_code == 400
    assert response.json()["field"] == "statements[1].object.id"
    assert _count(runtime, Completion) == 0
    assert _count(runtime, Learner) == 0
    assert _count(runtime, OutboxMessage) == 0


def test_invalid_json_and_wrong_content_type(live: Any, runtime: Runtime) -> None:
    base, tenant, _ = live
    auth = (tenant.cred.key, tenant.cred.secret)
    url = f"{base}/e/univ-a/xapi/statements"
    bad_json = requests.post(
        url, data="{nope", auth=auth, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert bad_json.status_code == 400 and bad_json.json()["field"] == "body"
    form = requests.post(url, data="a=b", auth=auth, timeout=10)
    assert form.status_code == 400 and form.json()["field"] == "Content-Type"
    assert _count(runtime, Completion) == 0


def test_oversized_body_is_refused_before_parsing(live: Any, runtime: Runtime) -> None:
    base, tenant, _ = live
    huge = b"[" + b" " * (runtime.settings.max_body_bytes + 10) + b"]"
    response = requests.post(
        f"{base}/e/univ-a/xapi/statements",
        data=huge,
        auth=(tenant.cred.key, tenant.cred.secret),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert _count(runtime, Completion) == 0
