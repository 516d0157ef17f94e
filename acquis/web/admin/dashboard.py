"""The dashboards of one establishment: each chart an SVG, a table of the same rows, and a CSV.

The three are drawn from one call to the chart's query (``dashboard_queries``), so a download
always says what the chart shows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Response, abort
from markupsafe import Markup
from sqlalchemy.orm import Session

from acquis.core import establishments
from acquis.web.admin import bp, dashboard_queries, render
from acquis.web.admin.auth import admin_required
from acquis.web.admin.charts import bar_chart
from acquis.web.context import runtime
from acquis.web.i18n import _l


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: Any  # lazily translated
    label: Any  # the heading of the first column (the second is always the count)
    query: Callable[[Session, int], dashboard_queries.Rows]
    words: dict[str, Any] | None = None  # translations of labels that are codes (delivery statuses)


CHARTS = (
    ChartSpec(
        "issued-by-month", _l("Badges issued per month"), _l("Month"), dashboard_queries.issued_by_month
    ),
    ChartSpec(
        "issued-by-level",
        _l("Badges issued per competency and level"),
        _l("Competency and level"),
        dashboard_queries.issued_by_competency_level,
    ),
    ChartSpec(
        "issued-by-course", _l("Badges issued per course"), _l("Course"), dashboard_queries.issued_by_course
    ),
    ChartSpec(
        "issued-by-programme",
        _l("Badges issued per programme (framework)"),
        _l("Programme"),
        dashboard_queries.issued_by_programme,
    ),
    ChartSpec(
        "pending-jury",
        _l("Validations awaiting a jury"),
        _l("Competency and level"),
        dashboard_queries.pending_jury,
    ),
    ChartSpec(
        "delivery-health",
        _l("Deliveries by state"),
        _l("State"),
        dashboard_queries.delivery_health,
        {"done": _l("delivered"), "pending": _l("waiting or retrying"), "failed": _l("failed")},
    ),
)
BY_KEY = {c.key: c for c in CHARTS}


def _rows(spec: ChartSpec, session: Session, establishment_id: int) -> list[tuple[str, int]]:
    rows = spec.query(session, establishment_id)
    if spec.words:
        rows = [(str(spec.words.get(label, label)), value) for label, value in rows]
    return rows


@dataclass(frozen=True)
class Drawn:
    spec: ChartSpec
    rows: list[tuple[str, int]]
    svg: Markup


@bp.get("/e/<slug>/dashboard")
@admin_required
def dashboard(slug: str) -> str:
    with runtime().db.session() as session:
        est = establishments.get(session, slug)
        drawn = []
        for spec in CHARTS:
            rows = _rows(spec, session, est.id)
            description = f"{spec.title}: " + "; ".join(f"{label} {value}" for label, value in rows)
            drawn.append(Drawn(spec, rows, bar_chart(spec.key, str(spec.title), description, rows)))
        return render("admin/dashboard.html", est=est, charts=drawn)


@bp.get("/e/<slug>/dashboard/<key>.csv")
@admin_required
def dashboard_csv(slug: str, key: str) -> Response:
    spec = BY_KEY.get(key)
    if spec is None:
        abort(404)
    with runtime().db.session() as session:
        est = establishments.get(session, slug)
        rows = _rows(spec, session, est.id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([str(spec.label), str(_l("Count"))])
    writer.writerows(rows)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{slug}-{key}.csv"'},
    )
