"""Request ids, one access log line per request, LTI launch latency, and ``/metrics``.

Every request gets an id: the caller's ``X-Request-Id`` when it is short and safe, a fresh one
otherwise. It is echoed in the response, put on every log record of the request, and stored
with the outbox messages the request enqueues, so a worker's logs of a delivery name it.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from ipaddress import ip_address
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST

from acquis.core import log_context, metrics
from acquis.core.establishments import SLUG_RE
from acquis.web.context import runtime

log = logging.getLogger("acquis.web")
bp = Blueprint("observability", __name__)

HEADER = "X-Request-Id"
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
LAUNCH_ENDPOINT = "lti.launch"


def install(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_end)
    app.teardown_request(_unbind)
    app.register_blueprint(bp)


def _begin() -> None:
    g.request_started = time.perf_counter()
    g.request_id = log_context.accept_request_id(request.headers.get(HEADER))
    slug = (request.view_args or {}).get("slug")
    # The URL's slug names the establishment in logs only when it is shaped like one: the
    # path is the caller's text, and a decoded %0A must not forge a log line.
    named = slug if isinstance(slug, str) and SLUG_RE.match(slug) else None
    g.log_tokens = log_context.bind(g.request_id, named)


def _end(response: Response) -> Response:
    request_id = g.get("request_id")
    if request_id:
        response.headers[HEADER] = request_id
    started = g.get("request_started")
    if started is not None:
        elapsed = time.perf_counter() - started
        if request.endpoint == LAUNCH_ENDPOINT:
            outcome = "ok" if response.status_code < 400 else "refused"
            metrics.LAUNCH_LATENCY.labels(outcome).observe(elapsed)
        if request.endpoint != "observability.scrape":
            path = _CONTROL.sub("?", request.path)[:300]
            log.info("%s %s %s %.1f ms", request.method, path, response.status_code, elapsed * 1000)
    return response


def _unbind(_exc: BaseException | None) -> None:
    tokens = g.pop("log_tokens", None)
    if tokens is not None:
        log_context.unbind(tokens)


def _allowed() -> bool:
    """A bearer token when ACQUIS_METRICS_TOKEN is set; otherwise loopback clients only."""
    token = runtime().settings.metrics_token
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def scrape() -> Any:
    if not _allowed():
        return Response(
            '{"error": "Forbidden", "message": "metrics need the bearer token (ACQUIS_METRICS_TOKEN) '
            'or a loopback client"}',
            status=403,
            mimetype="application/json",
        )
    return Response(metrics.exposition(runtime().db), mimetype=CONTENT_TYPE_LATEST)
