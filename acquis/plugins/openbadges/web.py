"""Public, unauthenticated verification endpoints (anyone holding a badge URL may verify it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import adapters
from acquis.core.models import Award, BadgeClass, Competency, Establishment, Framework, Level
from acquis.core.runtime import EXTENSION_KEY, Runtime
from acquis.plugins.openbadges import documents, image, urls
from acquis.plugins.openbadges.plugin import NAME

bp = Blueprint("openbadges", __name__, url_prefix=urls.PREFIX)

JSONLD = "application/ld+json"


def _rt() -> Runtime:
    from flask import current_app

    rt: Runtime = current_app.extensions[EXTENSION_KEY]
    return rt


def _jsonld(doc: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(doc)
    response.status_code = status
    response.mimetype = JSONLD
    response.headers["Access-Control-Allow-Origin"] = "*"  # verifiers run in browsers too
    return response


def _enabled_establishment(session: Session, slug: str) -> Establishment:
    est = session.scalar(select(Establishment).where(Establishment.slug == slug))
    if est is None or NAME not in adapters.enabled_names(session, est.id):
        abort(404)
    return est


@bp.get("/issuers/<slug>")
def issuer(slug: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        return _jsonld(documents.issuer(_enabled_establishment(session, slug), rt.settings.public_url))


@bp.get("/issuers/<slug>/revocations")
def revocations(slug: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        est = _enabled_establishment(session, slug)
        return _jsonld(documents.revocation_list(session, est, rt.settings.public_url))


def _badge(session: Session, public_id: str) -> BadgeClass:
    badge = session.scalar(select(BadgeClass).where(BadgeClass.public_id == public_id))
    if badge is None:
        abort(404)
    return badge


@bp.get("/badges/<public_id>")
def badge_class(public_id: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        return _jsonld(documents.badge_class(session, _badge(session, public_id), rt.settings.public_url))


@bp.get("/badges/<public_id>/criteria")
def criteria(public_id: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        doc = documents.badge_class(session, _badge(session, public_id), rt.settings.public_url)
        return _jsonld({"@context": documents.CONTEXT, "id": doc["criteria"]["id"], **doc["criteria"]})


@bp.get("/badges/<public_id>/image.svg")
def badge_image(public_id: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        badge = _badge(session, public_id)
        comp = session.get(Competency, badge.competency_id)
        level = session.get(Level, badge.level_id)
        assert comp is not None and level is not None
        body = image.svg(comp.title, level.label, level.rank)
    return Response(body, mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@bp.get("/competencies/<int:competency_id>")
def competency(competency_id: int) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        comp = session.get(Competency, competency_id)
        if comp is None:
            abort(404)
        framework = session.get(Framework, comp.framework_id)
        assert framework is not None
        return _jsonld(
            {
                "@context": {"@vocab": "http://purl.imsglobal.org/spec/case/v1p0/vocab#"},
                "type": "CFItem",
                "id": urls.competency(rt.settings.public_url, comp.id),
                "humanCodingScheme": comp.code,
                "fullStatement": comp.title,
                "notes": comp.description,
                "CFDocument": framework.title,
            }
        )


@bp.get("/assertions/<public_id>")
def assertion(public_id: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        award = session.scalar(select(Award).where(Award.public_id == public_id))
        if award is None or award.emitter != NAME or award.receipt is None:
            abort(404)
        if award.status == "revoked":
            # OB 2.0 hosted verification: a revoked assertion answers 410 Gone.
            return _jsonld(
                {
                    "@context": documents.CONTEXT,
                    "id": urls.assertion(rt.settings.public_url, award.public_id),
                    "revoked": True,
                    "revocationReason": award.revocation_reason or "revoked",
                },
                status=410,
            )
        return _jsonld(documents.assertion(session, award, rt.settings.public_url))
