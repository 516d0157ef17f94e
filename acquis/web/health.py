"""Probes for load balancers and orchestrators: /healthz (process up), /readyz (can serve)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from acquis.core import migrate
from acquis.web.context import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> Any:
    engine = runtime().db.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = migrate.current_revision(engine), migrate.head_revision(engine)
    except SQLAlchemyError as exc:
        return jsonify(status="unavailable", database="unreachable", error=type(exc).__name__), 503
    if current != head:
        return (
            jsonify(
                status="unavailable",
                database="ok",
                migrations="behind",
                current=current,
                head=head,
                hint="run `acquis db upgrade`",
            ),
            503,
        )
    return jsonify(status="ready", database="ok", migrations="current", revision=current)
