"""Request ids from the request to the worker's logs, JSON logs that still mask secrets, metrics."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from acquis.core import adapters, logs, metrics
from acquis.core.db import Database
from acquis.core.delivery import Deliverer
from acquis.core.errors import OutcomeUnknownError, PermanentDeliveryError, TransientDeliveryError
from acquis.core.models import OutboxMessage, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.runtime import Runtime
from acquis.web.app import create_app
from tests import helpers
from tests.conftest import PUBLIC_URL, TEST_KEY
from tests.plugins import RecordingEmitter

TOKEN = "metrics-token-0123456789"
# Tests with no database semantics of their own run on SQLite alone (suite time).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def recorder() -> RecordingEmitter:
    return RecordingEmitter("recorder")


@pytest.fixture
def rt(runtime: Runtime, recorder: RecordingEmitter) -> Runtime:
    runtime.host = PluginHost(plugins=[("recorder", recorder)])
    with runtime.db.session() as s:
        t = helpers.make_tenant(s, runtime.host, "univ-a", adapters=())
        helpers.tag(s, t, [1, 2, 3, 4])
        adapters.update_settings(
            s, runtime.host, t.est, "recorder", {"url": "https://obf.test", "token": "t"}
        )
        adapters.set_enabled(s, runtime.host, t.est, "recorder", True)
        runtime.tenant = t  # type: ignore[attr-defined]
    return runtime


@pytest.fixture
def client(rt: Runtime) -> FlaskClient:
    return create_app(rt).test_client()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The root logger writing JSON lines to a buffer, through the handler set-up serve uses."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logs.prepare(handler, "json")
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(old_level)


def _auth(rt: Runtime) -> tuple[str, str]:
    cred = rt.tenant.cred  # type: ignore[attr-defined]
    return cred.key, cred.secret


def _post(client: FlaskClient, rt: Runtime, body: Any, **headers: str) -> Any:
    key, secret = _auth(rt)
    return client.post("/e/univ-a/xapi/statements", json=body, auth=(key, secret), headers=headers or None)


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def _make_due(db: Database) -> None:
    with db.session() as s:
        s.execute(
            update(OutboxMessage).where(OutboxMessage.status == "pending").values(available_at=utcnow())
        )


@SQLITE_ONLY
def test_the_request_id_is_kept_when_safe_and_replaced_otherwise(client: FlaskClient) -> None:
    kept = client.get("/healthz", headers={"X-Request-Id": "moodle-7f3a:42"})
    assert kept.headers["X-Request-Id"] == "moodle-7f3a:42"
    for hostile in ("two words", "x" * 65, "a\u00e9b", "id;drop", ""):
        answer = client.get("/healthz", headers={"X-Request-Id": hostile})
        given = answer.headers["X-Request-Id"]
        assert given != hostile and len(given) == 32 and int(given, 16) >= 0
    first, second = client.get("/healthz"), client.get("/healthz")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


@SQLITE_ONLY
def test_a_path_cannot_forge_a_log_line(client: FlaskClient, json_logs: io.StringIO) -> None:
    """The path and slug are the caller's text: control characters never reach a log record."""
    client.post("/e/univ-a%0AINFO%20forged/xapi/statements", json=[])
    (access,) = [e for e in _lines(json_logs) if e["logger"] == "acquis.web"]
    assert "univ-a?INFO forged" in access["message"] and "\n" not in access["message"]
    assert access["establishment"] is None  # not shaped like a slug: not named


def test_a_request_id_reaches_the_outbox_and_the_worker_logs(
    client: FlaskClient, rt: Runtime, recorder: RecordingEmitter, json_logs: io.StringIO
) -> None:
    answer = _post(client, rt, [helpers.statement(cmid=1)], **{"X-Request-Id": "req-0042"})
    assert answer.status_code == 200, answer.json
    with rt.db.session() as s:
        ids = set(s.scalars(select(OutboxMessage.request_id)))
    assert ids == {"req-0042"}
    access = [e for e in _lines(json_logs) if e["logger"] == "acquis.web"]
    assert access and access[-1]["request_id"] == "req-0042" and access[-1]["establishment"] == "univ-a"
    assert set(access[-1]) >= {"time", "level", "logger", "message", "request_id", "establishment"}

    recorder.script = [TransientDeliveryError("OBF answered 503")]
    Deliverer(rt.db, rt.host, "w1", PUBLIC_URL).run_once()
    failed = [e for e in _lines(json_logs) if e["logger"] == "acquis.delivery"]
    assert failed and failed[-1]["request_id"] == "req-0042" and failed[-1]["establishment"] == "univ-a"
    _make_due(rt.db)
    Deliverer(rt.db, rt.host, "w1", PUBLIC_URL).run_once()  # issued, then badge_emitted broadcast
    with rt.db.session() as s:
        assert set(s.scalars(select(OutboxMessage.request_id))) == {"req-0042"}  # the chain keeps it


def test_json_logs_still_mask_secrets(json_logs: io.StringIO) -> None:
    log = logging.getLogger("acquis.test.json")
    log.warning("calling https://obf.test/?access_token=%s", "tok_123456789")
    try:
        raise RuntimeError("Authorization: Bearer eyJhbGciOi.payload.signature")
    except RuntimeError:
        log.exception("remote failure with client_secret=s3cr3t-Value")
    text = json_logs.getvalue()
    for secret in ("tok_123456789", "eyJhbGciOi.payload.signature", "s3cr3t-Value"):
        assert secret not in text
    entries = _lines(json_logs)
    assert len(entries) == 2 and logs.MASK in entries[0]["message"]
    assert "RuntimeError" in entries[1]["exception"] and entries[1]["request_id"] is None


def _scrape(client: FlaskClient, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics", **kw)
    assert answer.status_code == 200, answer.data
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def _v(values: dict[Any, float], name: str, **labels: str) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_ingest_deliveries_failures_and_read_the_outbox_depth(
    client: FlaskClient, rt: Runtime, recorder: RecordingEmitter
) -> None:
    before = _scrape(client)
    two = [helpers.statement(user="1", cmid=1), helpers.statement(user="2", cmid=2)]
    assert _post(client, rt, two).status_code == 200  # two learners, two awards
    assert _post(client, rt, two[:1]).status_code == 200  # a resend
    after = _scrape(client)
    ingested = "acquis_events_ingested_total"
    assert (
        _v(after, ingested, establishment="univ-a", outcome="stored")
        - _v(before, ingested, establishment="univ-a", outcome="stored")
        == 2
    )
    assert (
        _v(after, ingested, establishment="univ-a", outcome="duplicate")
        - _v(before, ingested, establishment="univ-a", outcome="duplicate")
        == 1
    )
    with rt.db.session() as s:
        pending = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.topic == "emit_badge")
        )
    assert pending and _v(after, "acquis_outbox_depth", status="pending", topic="emit_badge") == pending

    recorder.script = [
        TransientDeliveryError("503"),
        OutcomeUnknownError("timed out"),
        PermanentDeliveryError("badge unknown at OBF"),
    ]
    deliverer = Deliverer(rt.db, rt.host, "w1", PUBLIC_URL)
    deliverer.run_once()  # the two awards: transient, unknown
    _make_due(rt.db)
    deliverer.run_once()  # one parked (permanent), one issued after reconciliation
    final = _scrape(client)
    failures = "acquis_delivery_failures_total"
    for kind in ("transient", "unknown", "permanent"):
        assert (
            _v(final, failures, kind=kind, topic="emit_badge")
            - _v(before, failures, kind=kind, topic="emit_badge")
            == 1
        ), kind
    delivered = "acquis_awards_delivered_total"
    assert _v(final, delivered, emitter="recorder") - _v(before, delivered, emitter="recorder") == 1
    assert _v(final, "acquis_outbox_depth", status="failed", topic="emit_badge") == 1


@SQLITE_ONLY
def test_lti_launch_latency_is_observed(client: FlaskClient) -> None:
    before = _scrape(client)
    answer = client.post("/lti/launch", data={"id_token": "not-a-jwt", "state": "nope"})
    assert answer.status_code >= 400
    after = _scrape(client)
    name = "acquis_lti_launch_seconds_count"
    assert _v(after, name, outcome="refused") - _v(before, name, outcome="refused") == 1


@SQLITE_ONLY
def test_metrics_are_for_loopback_or_the_bearer_token(client: FlaskClient, rt: Runtime) -> None:
    remote = {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}}
    assert client.get("/metrics", **remote).status_code == 403
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    rt.settings = type(rt.settings)(**{**rt.settings.__dict__, "metrics_token": TOKEN})
    assert client.get("/metrics").status_code == 403  # with a token, loopback needs it too
    assert (
        client.get("/metrics", headers={"Authorization": "Bearer wrong-token-000000000"}).status_code == 403
    )
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, **remote)
    assert ok.status_code == 200 and b"acquis_outbox_depth" in ok.data


def test_gunicorn_processes_are_added_up_in_multiprocess_mode(tmp_path: Path) -> None:
    """Real gunicorn workers, recycled after each request so that several processes serve the
    statements: /metrics, answered by yet another, reports the sum of them all."""
    import socket
    import time

    import requests

    from acquis.core import migrate
    from acquis.core.settings import Settings

    folder = tmp_path / "prom"
    folder.mkdir()
    settings = Settings(
        instance_path=tmp_path, database_url=f"sqlite:///{tmp_path / 'g.db'}", public_url=PUBLIC_URL
    )
    db = Database(settings)
    migrate.upgrade(db.engine)
    with db.session() as s:
        tenant = helpers.make_tenant(s, PluginHost(load_entry_points=False), "univ-g", adapters=())
        auth = (tenant.cred.key, tenant.cred.secret)
    db.dispose()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": "/usr/bin:/bin",
        "ACQUIS_DATABASE_URL": settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_WORKER": "none",
        "ACQUIS_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    proc = subprocess.Popen(
        [
            str(gunicorn),
            "-c",
            "python:acquis.web.gunicorn_conf",
            "-w",
            "5",
            "--max-requests",
            "1",
            "--preload",
            "-b",
            f"127.0.0.1:{port}",
            "acquis.web.wsgi:app",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=10)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert proc.poll() is None and time.monotonic() < deadline, (
                    proc.stderr.read() if proc.stderr else ""
                )
                time.sleep(0.2)
        for i in range(3):
            answer = requests.post(
                f"{base}/e/univ-g/xapi/statements",
                json=[helpers.statement(user=f"g{i}")],
                auth=auth,
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
        files = {p.name.rsplit("_", 1)[-1] for p in folder.glob("counter_*.db")}
        assert len(files) == 3, files  # one process per statement: each worker serves one request
        text = requests.get(f"{base}/metrics", timeout=30).text
        stored = [
            s.value
            for f in text_string_to_metric_families(text)
            for s in f.samples
            if s.name == "acquis_events_ingested_total" and s.labels.get("establishment") == "univ-g"
        ]
        assert stored == [3.0]
    finally:
        proc.terminate()
        proc.wait(30)


@SQLITE_ONLY
def test_a_worker_serves_its_own_metrics(
    rt: Runtime, recorder: RecordingEmitter, client: FlaskClient
) -> None:
    """`acquis worker --metrics-port`: deliveries are counted where they happen."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = metrics.serve(rt.db, port)
    try:

        def scrape() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                return str(answer.read().decode())

        before = scrape()
        assert _post(client, rt, [helpers.statement(user="w", cmid=3)]).status_code == 200
        recorder.script = [PermanentDeliveryError("refused")]
        Deliverer(rt.db, rt.host, "w1", PUBLIC_URL).run_once()
        after = scrape()

        def value(text: str) -> float:
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    if s.name == "acquis_delivery_failures_total" and s.labels == {
                        "kind": "permanent",
                        "topic": "emit_badge",
                    }:
                        return float(s.value)
            return 0.0

        assert value(after) - value(before) == 1
        assert 'acquis_outbox_depth{status="failed",topic="emit_badge"} 1.0' in after
    finally:
        server.shutdown()
        server.server_close()


def test_celery_handlers_mask_and_carry_the_request_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery installs its own handlers; the after_setup_logger signal prepares them like ours."""
    from acquis.core import log_context
    from acquis.queue import celery_app

    monkeypatch.setenv("ACQUIS_LOG_FORMAT", "json")
    buffer = io.StringIO()
    logger = logging.Logger("celery.test")
    logger.addHandler(logging.StreamHandler(buffer))
    celery_app._prepare_logs(logger=logger)
    with log_context.bound("req-celery-1", "univ-c"):
        logger.warning("OBF said password=hunter2")
    (entry,) = _lines(buffer)
    assert entry["request_id"] == "req-celery-1" and entry["establishment"] == "univ-c"
    assert "hunter2" not in entry["message"] and logs.MASK in entry["message"]
    monkeypatch.setenv("ACQUIS_LOG_FORMAT", "text")
    text_buffer = io.StringIO()
    plain = logging.Logger("celery.text")
    plain.addHandler(logging.StreamHandler(text_buffer))
    celery_app._prepare_logs(logger=plain)
    with log_context.bound("req-celery-2", "univ-c"):
        plain.warning("delivered")
    assert "[req-celery-2 univ-c] delivered" in text_buffer.getvalue()
