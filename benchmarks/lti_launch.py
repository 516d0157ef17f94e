"""LTI launch throughput: full login → launch → first page round trips, against verifying the token.

    python benchmarks/lti_launch.py [--launches 500] [--processes N] [--database-url postgresql://…]
                                    [--no-key-set-cache]

In-process WSGI clients, no sockets on the hot path: the tool (acquis' Flask app) and the
platform (lti1p3platform, the independent implementation in tests/fakes/lti_platform.py) are
each driven through Flask's test client, as a browser would: the platform starts the login,
the tool redirects to the platform's auth endpoint with state and nonce, the platform answers
with an RS256-signed id_token, the tool verifies it (signature against the platform's key set,
claims, nonce, state, deployment) and redirects to the student page, which is fetched. The
platform's key set is the one thing fetched over HTTP (a loopback server), once, then cached.

``--processes N`` stands for N web processes (gunicorn -w N) sharing one database: the
tool is set up and warmed once, then forked into N processes, each doing launches/N launches
concurrently. The platform's share cannot be left out of a wall clock by summing, so each
process runs its launches in two phases, each started from a barrier: every process's logins
(tool), then, after the platform has signed every id_token (untimed), every launch and first
page (tool). The tool's time is the sum of the two phases' spans, first start to last finish.
The verify baseline is measured the same way, split over the same N processes.

Baseline measured in the same run: the bare cost of verifying the same id_token with PyJWT
(RS256, the platform's public key already in hand). The last line printed is JSON:
{"launches", "launches_per_s", "verify_per_s", "ratio", …}; ratio = launch time / verify time.
"""

from __future__ import annotations

import argparse
import html
import json
import multiprocessing
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fakes and tests.live

from bench_db import fresh_database

from acquis.core.db import Database
from acquis.core.plugins import PluginHost
from acquis.core.runtime import Runtime
from acquis.web.app import create_app
from tests import live
from tests.fakes.lti_env import register
from tests.fakes.lti_platform import FakePlatform

TOOL = "http://localhost"  # the host Flask's test client speaks to
_FIELD = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


class Launcher:
    """Drives launches; ``tool_s`` sums the time spent inside the tool's requests only.

    The platform's share (lti1p3platform parses its PEM key on every signature, ~30 ms) is
    what Moodle spends on its own server, so it is timed apart in ``platform_s``.
    """

    def __init__(self, app: Flask, platform: Flask) -> None:
        self.app = app
        self.platform = platform.test_client()
        self.tool_s = 0.0
        self.platform_s = 0.0

    def _tool(self, client: FlaskClient, method: str, path: str, **kw: Any) -> TestResponse:
        t0 = time.perf_counter()
        response = client.open(path, method=method, **kw)
        self.tool_s += time.perf_counter() - t0
        return response

    def _platform(self, path: str) -> TestResponse:
        t0 = time.perf_counter()
        response = self.platform.get(path)
        self.platform_s += time.perf_counter() - t0
        return response

    def launch(self) -> str:
        """One browser's launch (its own cookie jar); returns the id_token it carried."""
        tool = self.app.test_client()
        r = self._platform("/start")
        assert r.status_code == 302, r.status_code
        r = self._tool(tool, "GET", path_of(r.headers["Location"]))
        assert r.status_code == 302, r.get_data(as_text=True)
        r = self._platform(path_of(r.headers["Location"]))
        fields = {k: html.unescape(v) for k, v in _FIELD.findall(r.get_data(as_text=True))}
        assert "id_token" in fields, r.get_data(as_text=True)
        r = self._tool(tool, "POST", "/lti/launch", data=fields)
        assert r.status_code == 303, r.get_data(as_text=True)
        r = self._tool(tool, "GET", path_of(r.headers["Location"]))
        assert r.status_code == 200 and "Mon espace" in r.get_data(as_text=True), r.status_code
        return fields["id_token"]


def _auth_fields(platform: FlaskClient, location: str) -> dict[str, str]:
    r = platform.get(path_of(location))
    fields = {k: html.unescape(v) for k, v in _FIELD.findall(r.get_data(as_text=True))}
    assert "id_token" in fields, r.get_data(as_text=True)
    return fields


def _phased_worker(
    db: Database,
    app: Flask,
    platform_app: Flask,
    launches: int,
    token: str,
    public: Any,
    rounds: int,
    barrier: Any,
    out: Any,
) -> None:
    """One web process of ``--processes``: logins, then launches, then verifies, each phase
    started from the barrier; reports (start, end) of each phase on perf_counter (one clock for
    every process: CLOCK_MONOTONIC)."""
    db.engine.dispose(close=False)  # the parent's pooled connections are not this process's
    platform = platform_app.test_client()
    browsers = [app.test_client() for _ in range(launches)]
    starts = [path_of(platform.get("/start").headers["Location"]) for _ in range(launches)]
    spans: list[tuple[float, float]] = []

    barrier.wait()
    t0 = time.perf_counter()
    auth_urls = []
    for tool, start in zip(browsers, starts, strict=True):
        r = tool.get(start)
        assert r.status_code == 302, r.get_data(as_text=True)
        auth_urls.append(r.headers["Location"])
    spans.append((t0, time.perf_counter()))

    forms = [_auth_fields(platform, url) for url in auth_urls]  # the platform signs: untimed
    barrier.wait()
    t0 = time.perf_counter()
    for tool, fields in zip(browsers, forms, strict=True):
        r = tool.post("/lti/launch", data=fields)
        assert r.status_code == 303, r.get_data(as_text=True)
        r = tool.get(path_of(r.headers["Location"]))
        assert r.status_code == 200 and "Mon espace" in r.get_data(as_text=True), r.status_code
    spans.append((t0, time.perf_counter()))

    barrier.wait()
    t0 = time.perf_counter()
    for _ in range(rounds):
        jwt.decode(token, public, algorithms=["RS256"], options={"verify_aud": False, "verify_exp": False})
    spans.append((t0, time.perf_counter()))
    out.put(spans)


def run_processes(
    db: Database, app: Flask, platform_app: Flask, launches: int, processes: int, token: str, public: Any
) -> tuple[float, float, int]:
    """(tool seconds for ``launches`` launches, seconds for the verify rounds, rounds), wall
    clock over ``processes`` forked processes sharing the database."""
    ctx = multiprocessing.get_context("fork")  # the warmed app, key set cache included
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    share = [launches // processes + (i < launches % processes) for i in range(processes)]
    rounds = max(2000, launches * 4) // processes
    workers = [
        ctx.Process(
            target=_phased_worker,
            args=(db, app, platform_app, n, token, public, rounds, barrier, out),
        )
        for n in share
    ]
    for w in workers:
        w.start()
    reports = [out.get(timeout=600) for _ in workers]
    for w in workers:
        w.join()
        assert w.exitcode == 0, w.exitcode

    def span(phase: int) -> float:
        return max(r[phase][1] for r in reports) - min(r[phase][0] for r in reports)

    return span(0) + span(1), span(2), rounds * processes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--launches", type=int, default=500)
    ap.add_argument(
        "--processes",
        type=int,
        help="forked web processes doing the launches concurrently (a fair split of --launches), "
        "timed on the wall clock in phases; without it, one process sums its tool requests' times",
    )
    ap.add_argument("--database-url", help="PostgreSQL URL; default: a SQLite file in a temp folder")
    ap.add_argument(
        "--no-key-set-cache",
        action="store_true",
        help="fetch the platform's key set at every launch, as before the cache (for comparison)",
    )
    args = ap.parse_args()
    if args.no_key_set_cache:
        from acquis.lti.views import KEY_SETS

        KEY_SETS.ttl = 0.0

    settings, db = fresh_database(args.database_url, "acquis-bench-lti-")
    runtime = Runtime(settings=settings, db=db, host=PluginHost())
    app = create_app(runtime)
    platform = FakePlatform()
    with live.serve(platform.app) as platform_url:  # serves the key set the tool fetches once
        platform.base_url, platform.tool_url = platform_url, TOOL
        register(runtime, "bench", platform)
        warm = Launcher(app, platform.app)
        for _ in range(20):  # warm-up: key set cached, tool key created, code paths loaded
            token = warm.launch()
        public = jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(platform.registration().get_jwks()[0]))
        launcher = Launcher(app, platform.app)
        if args.processes:
            db.engine.dispose()  # no connection crosses the fork
            launch_s, verify_total, rounds = run_processes(
                db, app, platform.app, args.launches, args.processes, token, public
            )
            verify_s = verify_total / rounds
        else:
            for _ in range(args.launches):
                token = launcher.launch()
            launch_s = launcher.tool_s

    if not args.processes:
        rounds = max(2000, args.launches * 4)
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(rounds // 5):
                jwt.decode(
                    token, public, algorithms=["RS256"], options={"verify_aud": False, "verify_exp": False}
                )  # type: ignore[arg-type]
            samples.append((time.perf_counter() - t0) / (rounds // 5))
        verify_s = statistics.median(samples)

    per_launch = launch_s / args.launches
    backend = db.engine.dialect.name
    print(
        f"tool side of a launch ({backend}, in-process WSGI, {args.processes or 'one'} process(es)): "
        f"{per_launch * 1000:.2f} ms of wall clock"
    )
    print(f"  → {args.launches / launch_s:,.1f} launches/s")
    if not args.processes:
        print(f"  the platform's side: {launcher.platform_s / args.launches * 1000:.2f} ms per launch")
    print(f"verify id_token alone: {1 / verify_s:,.0f}/s ({verify_s * 1e6:.0f} µs each)")
    result = {
        "launches": args.launches,
        "processes": args.processes,
        "backend": backend,
        "transport": "in-process WSGI (Flask test client); platform JWKS over loopback HTTP",
        "launches_per_s": round(args.launches / launch_s, 1),
        "ms_per_launch": round(per_launch * 1000, 3),
        "verify_per_s": round(1 / verify_s, 1),
        "ratio": round(per_launch / verify_s, 1),
        "platform_ms_per_launch": (
            round(launcher.platform_s / args.launches * 1000, 3) if not args.processes else None
        ),
        "jwks_fetches": platform.jwks_fetches,
        "key_set_cache": not args.no_key_set_cache,
    }
    print(json.dumps(result))
    runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
