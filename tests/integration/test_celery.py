"""Scaled mode: PostgreSQL, `acquis worker --celery` on RabbitMQ or Redis, web processes waking it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from acquis.core import establishments, migrate
from acquis.core.db import Database
from acquis.core.ingest import ingest
from acquis.core.models import Award, Validation, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.runtime import Runtime
from acquis.core.settings import Settings
from acquis.core.xapi import parse_batch
from acquis.queue.celery_app import Notifier, app_from_env
from tests import helpers
from tests.conftest import PUBLIC_URL, TEST_KEY, _wipe

BROKERS = {
    "redis": (
        "redis://127.0.0.1:6379/0",
        6379,
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
    ),
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672//", 5672, ["rabbitmq-server", "-detached"]),
}


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _ensure_broker(name: str) -> str:
    url, port, start = BROKERS[name]
    if not _listening(port):
        subprocess.run(start, check=False, capture_output=True, timeout=60)
        deadline = time.monotonic() + 60
        while not _listening(port) and time.monotonic() < deadline:
            time.sleep(1)
    if not _listening(port):
        pytest.fail(f"the {name} broker is not reachable on port {port} and could not be started")
    return url


@pytest.fixture(params=sorted(BROKERS))
def scaled(request: pytest.FixtureRequest, pg_database_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    broker = _ensure_broker(request.param)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACQUIS_")}
    env.update(
        ACQUIS_DATABASE_URL=pg_database_url,
        ACQUIS_BROKER_URL=broker,
        ACQUIS_QUEUE=f"acquis-test-{uuid.uuid4().hex[:8]}",
        ACQUIS_SECRET_KEYS=TEST_KEY,
        ACQUIS_INSTANCE_PATH=str(tmp_path / "worker"),
        ACQUIS_PUBLIC_URL=PUBLIC_URL,
        ACQUIS_WORKER="celery",
        ACQUIS_LOG_LEVEL="WARNING",
        ACQUIS_DELIVERY_LEASE_SECONDS="3",  # a killed worker's messages come back within seconds
    )
    settings = Settings.from_env(env)
    db = Database(settings)
    migrate.upgrade(db.engine)
    _wipe(db.engine)
    host = PluginHost()
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        helpers.tag(s, t, [1], "C1", "Novice")
        helpers.tag(s, t, [2], "C2", "Novice")
    rt = Runtime(settings=settings, db=db, host=host, notifier=Notifier(app_from_env_with(env)))
    workers: list[subprocess.Popen[bytes]] = []

    logs: list[Path] = []

    def start_worker() -> subprocess.Popen[bytes]:
        log_path = tmp_path / f"worker-{len(workers)}.log"
        logs.append(log_path)
        with open(log_path, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "acquis", "worker", "--celery", "--concurrency", "2"],
                env={**env, "ACQUIS_LOG_LEVEL": "INFO"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        workers.append(proc)
        assert rt.notifier is not None
        _wait_ready(rt.notifier, proc, log_path)  # type: ignore[arg-type]
        return proc

    def worker_logs() -> str:
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-3000:] for p in logs)

    yield {"rt": rt, "start_worker": start_worker, "logs": worker_logs}
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    db.dispose()


def _wait_ready(
    notifier: Notifier, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 90
) -> None:
    """Until the worker answers a Celery ping; a worker that dies or never answers fails with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"the worker exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}"
            )
        if notifier.app.control.ping(timeout=1.0):
            return
    raise AssertionError(
        f"no answer from the worker in {timeout}s:\n{log_path.read_text(errors='replace')[-3000:]}"
    )


def app_from_env_with(env: dict[str, str]) -> Any:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return app_from_env()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _send(rt: Runtime, users: range, cmid: int) -> None:
    with rt.db.session() as s:
        est = establishments.get(s, "univ-a")
        statements = [helpers.statement(user=str(u), cmid=cmid) for u in users]
        ingest(s, rt.host, est.id, [f for f in parse_batch(statements, utcnow()) if f])
    rt.notify()  # what the statements endpoint does after its commit


def _counts(rt: Runtime) -> tuple[int, int, int]:
    with rt.db.session() as s:
        validated = int(
            s.scalar(select(func.count()).select_from(Validation).where(Validation.status == "validated"))
            or 0
        )
        issued = int(s.scalar(select(func.count()).select_from(Award).where(Award.status == "issued")) or 0)
        awards = int(s.scalar(select(func.count()).select_from(Award)) or 0)
    return validated, issued, awards


def _wait_all_issued(rt: Runtime, expected: int, logs: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _counts(rt)[1] == expected:
            return
        time.sleep(0.3)
    raise AssertionError(f"issued {_counts(rt)[1]} of {expected} in {timeout}s; worker logs:\n{logs()}")


def test_celery_worker_delivers_what_the_web_enqueued(scaled: dict[str, Any]) -> None:
    rt: Runtime = scaled["rt"]
    scaled["start_worker"]()
    _send(rt, range(40), cmid=1)
    _wait_all_issued(rt, 40, scaled["logs"])
    assert _counts(rt) == (40, 40, 40)


def test_kill_9_of_a_worker_mid_batch_loses_and_duplicates_nothing(scaled: dict[str, Any]) -> None:
    rt: Runtime = scaled["rt"]
    first = scaled["start_worker"]()
    _send(rt, range(150), cmid=1)
    _send(rt, range(150), cmid=2)
    deadline = time.monotonic() + 60
    while _counts(rt)[1] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its children, mid-delivery
    first.wait(10)
    assert _counts(rt)[1] < 300, "the worker finished before it could be killed; the test proved nothing"
    scaled["start_worker"]()
    _wait_all_issued(
        rt, 300, scaled["logs"], timeout=150
    )  # leases of the killed worker run out, then it resumes
    validated, issued, awards = _counts(rt)
    assert (validated, issued, awards) == (300, 300, 300)  # one award per validation, all issued
