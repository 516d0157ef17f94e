"""A scaled deployment of acquis on loopback, owned by one run, for the load and fault runs.

Its own PostgreSQL cluster (initdb in a temporary folder, as the ``postgres`` user when run as
root) and its own redis-server, on free ports, so that killing and restarting them touches
nothing else on the machine; gunicorn with W web processes; W' ``acquis worker --celery``
processes kept alive by a supervisor thread, as systemd's ``Restart=always`` would. The
establishments, framework, tags and LTI platforms are registered through the ``acquis`` CLI.
Used by ``benchmarks/load.py``, ``benchmarks/faults.py`` and ``tests/integration/test_scaled_faults.py``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import requests
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from tests import helpers, live
from tests.fakes.lti_platform import FakePlatform
from tests.integration.test_celery import _listening, _wait_ready, app_from_env_with

REPO = Path(__file__).resolve().parent.parent
DEMO_FRAMEWORK = REPO / "acquis" / "data" / "frameworks" / "demo.yaml"
MOODLE = "https://moodle.bench.example"
# activity → (competency, level): each completion of one of them is one badge for the learner.
TAGS = {1: ("C1", "Novice"), 2: ("C2", "Novice")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise RuntimeError(f"{what}: not within {timeout:.0f} s")


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    if not path:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (/usr/lib/postgresql/*/bin)")
    return path


class Postgres:
    """A throw-away cluster: trust authentication, listening on 127.0.0.1 only."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "pg"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0  # initdb refuses to run as root

    def _run(self, *argv: str) -> None:
        cmd = ["runuser", "-u", "postgres", "--", *argv] if self.as_postgres else list(argv)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {done.stdout}{done.stderr}")

    def init(self) -> None:
        self.dir.mkdir()
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        self._run(_pg_bin("initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run(
            _pg_bin("pg_ctl"), "-D", str(self.dir), "-l", str(self.dir / "log"), "-w", "-o", opts, "start"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.dir), "-m", mode, "-w", "stop")

    def crash_restart(self) -> float:
        """Stop at once (no checkpoint: crash recovery on start), start again; seconds it was away."""
        started = time.monotonic()
        self.stop("immediate")
        self.start()
        return time.monotonic() - started

    def url(self, database: str = "acquis") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        admin = create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()


class Redis:
    """redis-server without persistence: a restart loses what the broker held, as an outage may."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if not shutil.which("redis-server"):
            raise RuntimeError("redis-server is not installed")
        with open(self.dir / "log", "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.dir)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _wait(lambda: _listening(self.port), 20, "redis-server listening")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@dataclass
class Establishment:
    slug: str
    key: str
    secret: str
    platform: FakePlatform


@dataclass
class Stack:
    """Everything one run starts; ``close`` stops all of it, whatever state it is in."""

    root: Path
    web_processes: int = 1
    workers: int = 1
    worker_concurrency: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    pg: Postgres = field(init=False)
    redis: Redis = field(init=False)
    env: dict[str, str] = field(init=False)
    web: subprocess.Popen[bytes] | None = field(init=False, default=None)
    web_port: int = field(init=False, default=0)
    worker_procs: list[subprocess.Popen[bytes] | None] = field(init=False, default_factory=list)
    worker_restarts: int = field(init=False, default=0)
    establishments: list[Establishment] = field(init=False, default_factory=list)
    _stop: threading.Event = field(init=False, default_factory=threading.Event)
    _supervisor: threading.Thread | None = field(init=False, default=None)
    _platform_servers: contextlib.ExitStack = field(init=False, default_factory=contextlib.ExitStack)
    _celery: Any = field(init=False, default=None)

    # ---- infrastructure --------------------------------------------------------------------
    def start_infrastructure(self) -> None:
        self.pg = Postgres(self.root)
        self.pg.init()
        self.pg.start()
        self.pg.create_database("acquis")
        self.redis = Redis(self.root)
        self.redis.start()
        public_port = free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ACQUIS_")}
        self.env.update(
            ACQUIS_DATABASE_URL=self.pg.url(),
            ACQUIS_BROKER_URL=self.redis.url,
            ACQUIS_QUEUE=f"acquis-{uuid.uuid4().hex[:8]}",
            ACQUIS_WORKER="celery",
            ACQUIS_SECRET_KEYS=Fernet.generate_key().decode(),
            ACQUIS_INSTANCE_PATH=str(self.root / "instance"),
            ACQUIS_PUBLIC_URL=f"http://127.0.0.1:{public_port}",
            ACQUIS_LOG_LEVEL="WARNING",
            PYTHONPATH=str(REPO),
        )
        self.env.update(self.extra_env)
        self.acquis("db", "upgrade")
        self._celery = app_from_env_with(self.env)

    def acquis(self, *args: str) -> str:
        """The `acquis` command, as an administrator runs it on the host."""
        done = subprocess.run(
            [sys.executable, "-m", "acquis", *args],
            env=self.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"acquis {' '.join(args)}: {done.stdout}{done.stderr}")
        return done.stdout

    def register(self, count: int) -> None:
        """Establishments, each with the demo framework, two tagged activities and an LTI platform."""
        for n in range(count):
            slug = f"univ-{n + 1}"
            out = self.acquis(
                "establishment", "add", slug, "--name", f"Université {n + 1}",
                "--contact-email", f"badges@{slug}.fr",
            )  # fmt: skip
            lines = dict(
                line.split(":", 1) for line in out.splitlines() if line.startswith(("key:", "secret:"))
            )
            self.acquis("framework", "import", slug, str(DEMO_FRAMEWORK))
            for cmid, (competency, level) in TAGS.items():
                self.acquis(
                    "tag", "add", slug, "--activity", activity(cmid),
                    "--competency", competency, "--level", level,
                )  # fmt: skip
            platform = FakePlatform(client_id=f"client-{slug}", deployment_id="dep-1")
            platform.base_url = self._platform_servers.enter_context(live.serve(platform.app))
            self.acquis(
                "platform", "add", slug, "--issuer", platform.issuer, "--client-id", platform.client_id,
                "--deployment-id", platform.deployment_id, "--auth-login-url", platform.auth_login_url,
                "--token-url", platform.token_url, "--jwks-url", platform.jwks_url,
            )  # fmt: skip
            self.establishments.append(
                Establishment(slug, lines["key"].strip(), lines["secret"].strip(), platform)
            )

    # ---- web -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_web(self, processes: int | None = None) -> None:
        self.web_processes = processes or self.web_processes
        self.web_port = free_port()
        with open(self.root / f"web-{self.web_port}.log", "wb") as log:
            self.web = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", str(self.web_processes), "--threads", "4",
                 "--bind", f"127.0.0.1:{self.web_port}", "--graceful-timeout", "5", "acquis.web.wsgi:app"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        for est in self.establishments:
            est.platform.tool_url = self.base_url
        self.wait_web()

    def web_children(self) -> list[int]:
        assert self.web is not None
        try:
            with open(f"/proc/{self.web.pid}/task/{self.web.pid}/children", encoding="ascii") as fh:
                return [int(p) for p in fh.read().split()]
        except FileNotFoundError:
            return []

    def wait_web(self, timeout: float = 60) -> None:
        def ready() -> bool:
            assert self.web is not None
            if self.web.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_tail('web-')}")
            if len(self.web_children()) != self.web_processes:
                return False
            with contextlib.suppress(requests.RequestException):
                return requests.get(self.base_url + "/readyz", timeout=2).status_code == 200
            return False

        _wait(ready, timeout, "gunicorn answering with all its processes")

    def kill_web_process(self) -> int:
        """kill -9 one gunicorn worker: its master starts another."""
        victim = self.web_children()[0]
        os.kill(victim, signal.SIGKILL)
        _wait(lambda: victim not in self.web_children(), 20, "gunicorn noticing the kill")
        self.wait_web()
        return victim

    def stop_web(self) -> None:
        if self.web is not None and self.web.poll() is None:
            self.web.terminate()
            try:
                self.web.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.web.pid, signal.SIGKILL)
                self.web.wait(10)
        self.web = None

    # ---- workers ---------------------------------------------------------------------------
    def _spawn_worker(self, slot: int) -> subprocess.Popen[bytes]:
        with open(self.root / f"worker-{slot}.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "acquis", "worker", "--celery", "--concurrency",
                 str(self.worker_concurrency), "--name", f"w{slot}-{uuid.uuid4().hex[:4]}@bench"],
                env={**self.env, "ACQUIS_LOG_LEVEL": "INFO"}, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def start_workers(self, count: int | None = None) -> None:
        if self._supervisor is not None and self._supervisor.is_alive():
            self.stop_workers()
        self.workers = self.workers if count is None else count
        self._stop.clear()
        self.worker_procs = [self._spawn_worker(i) for i in range(self.workers)]
        for i, proc in enumerate(self.worker_procs):
            assert proc is not None
            _wait_ready(self._notifier(), proc, self.root / f"worker-{i}.log")
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()

    def _notifier(self) -> Any:
        from acquis.queue.celery_app import Notifier

        return Notifier(self._celery)

    def _supervise(self) -> None:
        """What systemd's Restart=always does for acquis-worker@N: a worker that dies comes back."""
        while not self._stop.wait(0.5):
            for i, proc in enumerate(self.worker_procs):
                if proc is not None and proc.poll() is not None and not self._stop.is_set():
                    self.worker_procs[i] = self._spawn_worker(i)
                    self.worker_restarts += 1

    def kill_worker(self) -> int:
        """kill -9 a worker and its pool processes, mid-delivery; the supervisor restarts it."""
        proc = self.worker_procs[0]
        assert proc is not None
        os.killpg(proc.pid, signal.SIGKILL)
        _wait(lambda: self.worker_procs[0] is not proc, 20, "the supervisor restarting the worker")
        return proc.pid

    def stop_workers(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(5)
        for proc in self.worker_procs:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.worker_procs:
            if proc is None:
                continue
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.worker_procs = []

    # ---- broker ----------------------------------------------------------------------------
    def broker_outage(self, seconds: float) -> None:
        self.redis.kill()
        time.sleep(seconds)
        self.redis.start()

    # ---- the end ---------------------------------------------------------------------------
    def log_tail(self, prefix: str, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
            for p in sorted(self.root.glob(prefix + "*"))
        )

    def close(self) -> None:
        for step in (self.stop_workers, self.stop_web):
            with contextlib.suppress(Exception):
                step()
        if self._celery is not None:
            with contextlib.suppress(Exception):
                self._celery.close()
        self._platform_servers.close()
        with contextlib.suppress(Exception):
            self.redis.kill()
        with contextlib.suppress(Exception):
            self.pg.stop("immediate")


@contextlib.contextmanager
def running(
    web_processes: int = 1, workers: int = 1, establishments: int = 2, env: dict[str, str] | None = None
) -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="acquis-scaled-"))
    root.chmod(0o755)  # the postgres user must reach its data folder inside
    stack = Stack(root, web_processes, workers, extra_env=env or {})
    try:
        stack.start_infrastructure()
        stack.register(establishments)
        stack.start_web()
        stack.start_workers()
        yield stack
    finally:
        stack.close()
        shutil.rmtree(root, ignore_errors=True)


# ---- what the clients send -------------------------------------------------------------------
def activity(cmid: int) -> str:
    return f"{MOODLE}/mod/book/view.php?id={cmid}"


def completions(learners: list[str], cmid: int) -> list[dict[str, Any]]:
    """One batch as logstore_xapi posts it: a completion of activity ``cmid`` per learner."""
    return [helpers.statement(user=u, cmid=cmid, home=MOODLE) for u in learners]


def post_statements(
    http: requests.Session, stack: Stack, est: Establishment, batch: list[dict[str, Any]]
) -> int:
    response = http.post(
        f"{stack.base_url}/e/{est.slug}/xapi/statements",
        json=batch, auth=(est.key, est.secret), timeout=30,
    )  # fmt: skip
    return response.status_code


def lti_launch(http: requests.Session, stack: Stack, est: Establishment, user: str) -> int:
    """/lti/login → the platform's signed id_token → /lti/launch, as a browser carries it.

    The platform's part is done here with its own key (the tool fetches the key set from its
    served JWKS URL), so each launch is two round trips to acquis. Returns the launch's status
    (303 to the course page when accepted)."""
    platform = est.platform
    login = http.get(
        stack.base_url + "/lti/login",
        params={
            "iss": platform.issuer, "login_hint": user, "client_id": platform.client_id,
            "target_link_uri": stack.base_url + "/lti/launch", "lti_message_hint": "rl-1",
            "lti_deployment_id": platform.deployment_id,
        },
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    if login.status_code != 302:
        return login.status_code
    query = parse_qs(urlparse(login.headers["Location"]).query)
    token = platform.sign(platform.claims(query["nonce"][0], sub=user, name=f"Learner {user}"))
    launch = http.post(
        stack.base_url + "/lti/launch", data={"id_token": token, "state": query["state"][0]},
        allow_redirects=False, timeout=30,
    )  # fmt: skip
    http.cookies.clear()
    return launch.status_code


def awards_by_learner(stack: Stack, prefix: str) -> list[tuple[str, str, str, str | None, datetime | None]]:
    """(establishment, learner, badge class, status, issued_at) of learners named ``prefix…``."""
    engine = create_engine(stack.pg.url().replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT e.slug, li.value, bc.public_id, a.status, a.issued_at FROM award a "
                    "JOIN establishment e ON e.id = a.establishment_id "
                    "JOIN learner_identifier li ON li.learner_id = a.learner_id AND li.system LIKE 'xapi:%' "
                    "JOIN badge_class bc ON bc.id = a.badge_class_id WHERE li.value LIKE :p"
                ),
                {"p": prefix + "%"},
            ).all()
    finally:
        engine.dispose()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
