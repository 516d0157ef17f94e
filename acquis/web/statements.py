"""The statements endpoint of an establishment: where Moodle's logstore_xapi sends completions.

Configure logstore_xapi with endpoint ``<public url>/e/<slug>/xapi/`` and the credential key
and secret given by ``acquis establishment add`` (HTTP Basic, as any LRS).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from flask import Blueprint, abort, jsonify, request

from acquis.core import erasure, establishments, metrics, ratelimit, xapi
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.ingest import ingest
from acquis.core.models import utcnow
from acquis.web.context import runtime

bp = Blueprint("statements", __name__)

XAPI_VERSION = "1.0.3"


def _authenticate(slug: str) -> tuple[int, int]:
    """The establishment's id and its rate limit (statements a minute, 0 for none)."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        abort(401, description="HTTP Basic credentials of the establishment are required")
    rt = runtime()
    with rt.db.session() as session:
        establishment_id = establishments.authenticate(session, auth.username, auth.password)
        if establishment_id is None:
            abort(401, description="unknown or revoked credentials")
        try:
            est = establishments.get(session, slug)
        except NotFound:
            est = None
        if est is None or est.id != establishment_id:
            abort(403, description="these credentials belong to another establishment")
        return establishment_id, ratelimit.effective_limit(est, rt.settings.ingest_rate_limit)


@bp.get("/e/<slug>/xapi/about")
def about(slug: str) -> Any:
    return jsonify(version=[XAPI_VERSION])


def _bad_request(message: str, field: str | None = None) -> Any:
    return jsonify(error="Bad Request", message=message, field=field), 400


@bp.post("/e/<slug>/xapi/statements")
def post_statements(slug: str) -> Any:
    establishment_id, limit = _authenticate(slug)
    if not request.is_json:
        return _bad_request("send the statements as application/json", "Content-Type")
    try:
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError:
        return _bad_request("the body is not valid JSON", "body")
    received = utcnow()
    try:
        parsed = xapi.parse_batch(body, received)
    except InvalidInput as exc:
        return _bad_request(str(exc), exc.field)
    items = body if isinstance(body, list) else [body]
    ids = [
        fact.statement_id if fact is not None else _statement_id(item)
        for fact, item in zip(parsed, items, strict=True)
    ]
    facts = [f for f in parsed if f is not None]
    rt = runtime()
    kept = facts
    try:
        with rt.db.session() as session:
            verdict = ratelimit.take(session, establishment_id, limit, len(items))
            if verdict.allowed:
                kept = erasure.drop_erased(session, establishment_id, facts)
    except InvalidInput as exc:
        return jsonify(error="Payload Too Large", message=exc.reason, field=exc.field), 413
    if not verdict.allowed:
        metrics.INGEST_THROTTLED.labels(slug).inc()
        response = jsonify(
            error="Too Many Requests",
            message=f"this establishment may send {limit} statements a minute; retry later",
        )
        response.status_code = 429
        response.headers["Retry-After"] = str(verdict.retry_after)
        return response
    with rt.db.session() as session:
        result = ingest(session, rt.host, establishment_id, kept)
    metrics.count_ingest(
        slug, result.stored, result.duplicates, len(items) - len(facts), len(facts) - len(kept)
    )
    if result.stored:
        rt.notify()
    response = jsonify(ids)
    response.headers["X-Experience-API-Version"] = XAPI_VERSION
    response.headers["X-Acquis-Stored"] = str(result.stored)
    response.headers["X-Acquis-Duplicates"] = str(result.duplicates)
    return response


def _statement_id(item: dict[str, Any]) -> str:
    if isinstance(item.get("id"), str):
        return str(item["id"])
    return str(uuid.UUID(xapi.content_hash(item)[:32]))
