"""With the database out of reach (restarting, failing over), requests get a 503 with Retry-After,
which tells logstore_xapi and browsers to try again, rather than a 500 that reads as a bug.
The scaled fault run (test_scaled_faults.py) sees these during its PostgreSQL restart."""

from __future__ import annotations

from pathlib import Path

from acquis.core.db import Database
from acquis.core.plugins import PluginHost
from acquis.core.runtime import Runtime
from acquis.core.settings import Settings
from acquis.web.app import create_app
from tests import helpers
from tests.conftest import PUBLIC_URL, TEST_KEY
from tests.scaled_stack import free_port


def test_requests_during_a_database_outage_get_503_with_retry_after(tmp_path: Path) -> None:
    nothing_listens = free_port()
    settings = Settings(
        instance_path=tmp_path,
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{nothing_listens}/acquis",
        public_url=PUBLIC_URL,
        secret_keys=(TEST_KEY,),
        worker="none",
    )
    rt = Runtime(settings=settings, db=Database(settings), host=PluginHost())
    client = create_app(rt).test_client()
    try:
        posted = client.post("/e/univ-a/xapi/statements", json=[helpers.statement()], auth=("key", "secret"))
        login = client.get("/lti/login", query_string={"iss": "https://moodle.example", "login_hint": "1"})
        ready = client.get("/readyz")
    finally:
        rt.db.dispose()
    for response in (posted, login):
        assert response.status_code == 503, response.data
        assert response.headers["Retry-After"] == "5"
        assert response.json is not None and "retry" in response.json["message"]
    assert ready.status_code == 503  # the probe says so too, as before
    assert client.get("/healthz").status_code == 200  # the process itself is up
