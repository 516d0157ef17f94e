"""Per-establishment ingest rate limits, shared by every web process through the database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from acquis.core import ratelimit
from acquis.core.db import Database
from acquis.core.errors import InvalidInput
from acquis.core.models import Completion, Establishment
from acquis.core.runtime import Runtime
from acquis.web.app import create_app
from tests import helpers


@pytest.fixture
def tenants(runtime: Runtime) -> dict[str, helpers.Tenant]:
    with runtime.db.session() as s:
        a = helpers.make_tenant(s, runtime.host, "univ-a")
        b = helpers.make_tenant(s, runtime.host, "univ-b")
        s.get(Establishment, a.est.id).ingest_rate_limit = 3  # type: ignore[union-attr]
    return {"univ-a": a, "univ-b": b}


def _post(client: Any, tenant: helpers.Tenant, users: list[str]) -> Any:
    body = [helpers.statement(user=u) for u in users]
    return client.post(
        f"/e/{tenant.est.slug}/xapi/statements", json=body, auth=(tenant.cred.key, tenant.cred.secret)
    )


def _stored(db: Database, tenant: helpers.Tenant) -> int:
    with db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Completion)
                .where(Completion.establishment_id == tenant.est.id)
            )
            or 0
        )


def test_one_establishment_is_throttled_while_another_is_not(
    runtime: Runtime, tenants: dict[str, helpers.Tenant]
) -> None:
    a, b = tenants["univ-a"], tenants["univ-b"]
    # Two web processes: two apps, two engines, one database.
    other = Runtime(settings=runtime.settings, db=Database(runtime.settings), host=runtime.host)
    web1, web2 = create_app(runtime).test_client(), create_app(other).test_client()
    try:
        assert _post(web1, a, ["1", "2"]).status_code == 200
        refused = _post(web2, a, ["3", "4"])  # 2 + 2 > 3, counted across processes
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert (
            refused.json["error"] == "Too Many Requests"
            and "3 statements a minute" in refused.json["message"]
        )
        assert _stored(runtime.db, a) == 2  # nothing of the refused batch
        assert _post(web2, a, ["3"]).status_code == 200  # the allowance left: exactly one
        assert _post(web1, a, ["5"]).status_code == 429
        for i in range(5):  # univ-b follows the default (60,000 a minute): unaffected
            assert _post(web1 if i % 2 else web2, b, [f"b{i}", f"c{i}"]).status_code == 200
        assert _stored(runtime.db, b) == 10 and _stored(runtime.db, a) == 3
    finally:
        other.db.dispose()


def test_a_batch_larger_than_the_whole_limit_is_413_and_a_new_minute_starts_afresh(
    runtime: Runtime, tenants: dict[str, helpers.Tenant]
) -> None:
    a = tenants["univ-a"]
    client = create_app(runtime).test_client()
    too_big = _post(client, a, ["1", "2", "3", "4"])
    assert too_big.status_code == 413 and "send smaller batches" in too_big.json["message"]
    assert _stored(runtime.db, a) == 0
    minute = 29_000_000 * 60.0
    with runtime.db.session() as s:
        assert ratelimit.take(s, a.est.id, 3, 3, now=minute + 1).allowed
    with runtime.db.session() as s:
        late = ratelimit.take(s, a.est.id, 3, 1, now=minute + 50.2)
        assert not late.allowed and late.retry_after == 10
    with runtime.db.session() as s:
        assert ratelimit.take(s, a.est.id, 3, 3, now=minute + 61).allowed  # the next minute
    with runtime.db.session() as s, pytest.raises(InvalidInput, match="smaller batches"):
        ratelimit.take(s, a.est.id, 3, 4)
    with runtime.db.session() as s:  # 0: no limit
        assert ratelimit.take(s, a.est.id, 0, 10_000).allowed
