"""Public, unauthenticated verification endpoints (anyone holding a badge URL may verify it)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import adapters
from acquis.core.models import Award, BadgeClass, Competency, Establishment, Framework, Level
from acquis.core.runtime import EXTENSION_KEY, Runtime
from acquis.plugins.openbadges import baking, documents, image, keys, ob3, urls
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


def _native_award(session: Session, public_id: str) -> Award:
    award = session.scalar(select(Award).where(Award.public_id == public_id))
    if award is None or award.emitter != NAME or award.receipt is None:
        abort(404)
    return award


def _revoked(award: Award, public_url: str) -> Response:
    # OB 2.0 hosted verification: a revoked assertion answers 410 Gone.
    return _jsonld(
        {
            "@context": documents.CONTEXT,
            "id": urls.assertion(public_url, award.public_id),
            "revoked": True,
            "revocationReason": award.revocation_reason or "revoked",
        },
        status=410,
    )


@bp.get("/assertions/<public_id>")
def assertion(public_id: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        award = _native_award(session, public_id)
        if award.status == "revoked":
            return _revoked(award, rt.settings.public_url)
        return _jsonld(documents.assertion(session, award, rt.settings.public_url))


@bp.get("/assertions/<public_id>/image.svg")
def baked_image(public_id: str) -> Response:
    """The badge image baked with this assertion, for the learner to keep and share as a file."""
    rt = _rt()
    public_url = rt.settings.public_url
    with rt.db.session() as session:
        award = _native_award(session, public_id)
        if award.status == "revoked":
            return _revoked(award, public_url)  # no fresh baked copy of a revoked badge
        badge = session.get(BadgeClass, award.badge_class_id)
        assert badge is not None
        comp = session.get(Competency, badge.competency_id)
        level = session.get(Level, badge.level_id)
        assert comp is not None and level is not None
        doc = documents.assertion(session, award, public_url)
        body = baking.bake_svg(image.svg(comp.title, level.label, level.rank), doc["id"], doc)
    return Response(body, mimetype="image/svg+xml", headers={"Cache-Control": "no-cache"})


def _colour(session: Session, award: Award) -> str:
    badge = session.get(BadgeClass, award.badge_class_id)
    assert badge is not None
    level = session.get(Level, badge.level_id)
    assert level is not None
    return image.LEVEL_COLOURS[min(max(level.rank, 0), len(image.LEVEL_COLOURS) - 1)]


def _png(body: bytes) -> Response:
    return Response(body, mimetype="image/png", headers={"Cache-Control": "no-cache"})


@bp.get("/assertions/<public_id>/image.png")
def baked_png(public_id: str) -> Response:
    """The PNG variant, baked with the assertion URL (hosted verification)."""
    rt = _rt()
    with rt.db.session() as session:
        award = _native_award(session, public_id)
        if award.status == "revoked":
            return _revoked(award, rt.settings.public_url)
        url = urls.assertion(rt.settings.public_url, award.public_id)
        return _png(baking.bake_png(baking.disc_png(_colour(session, award)), "openbadges", url))


# Open Badges 3.0 -----------------------------------------------------------------------------

bp3 = Blueprint("openbadges_v3", __name__, url_prefix=ob3.PREFIX)

JWKS = "application/jwk-set+json"


def _json(doc: dict[str, Any], mimetype: str = JSONLD, status: int = 200) -> Response:
    response = _jsonld(doc, status)
    response.mimetype = mimetype
    return response


@bp3.get("/issuers/<slug>")
def v3_issuer(slug: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        return _json(ob3.profile(_enabled_establishment(session, slug), rt.settings.public_url))


@bp3.get("/issuers/<slug>/jwks.json")
def v3_jwks(slug: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        est = _enabled_establishment(session, slug)
        response = _json(keys.jwks(*keys.ring(session, rt.host, est)), JWKS)
    # Short: verifiers may cache, but a rotated key must reach them the same day.
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp3.get(f"/issuers/<slug>/status/{ob3.STATUS_PURPOSE}")
def v3_status_list(slug: str) -> Response:
    """The revocation status list, a BitstringStatusListCredential signed like the credentials."""
    rt = _rt()
    public_url = rt.settings.public_url
    with rt.db.session() as session:
        est = _enabled_establishment(session, slug)
        doc = ob3.status_list(session, est, public_url)
        token = ob3.sign(doc, keys.signing_key(session, rt.host, est), public_url, est.slug)
    response = Response(token, mimetype=ob3.MEDIA_TYPE)
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-cache"  # a revocation must be seen at once
    return response


@bp3.get("/achievements/<public_id>")
def v3_achievement(public_id: str) -> Response:
    rt = _rt()
    with rt.db.session() as session:
        doc = ob3.achievement(session, _badge(session, public_id), rt.settings.public_url)
        return _json({"@context": ob3.CONTEXT, **doc})


def _credential_gone(award: Award, public_url: str) -> Response:
    return _json(
        {
            "id": ob3.credential_url(public_url, award.public_id),
            "revoked": True,
            "revocationReason": award.revocation_reason or "revoked",
        },
        "application/json",
        status=410,
    )


def _signed(session: Session, award: Award, doc: dict[str, Any], public_url: str) -> str:
    rt = _rt()
    est = session.get(Establishment, award.establishment_id)
    assert est is not None
    return ob3.sign(doc, keys.signing_key(session, rt.host, est), public_url, est.slug)


@bp3.get("/credentials/<public_id>")
def v3_credential(public_id: str) -> Response:
    """The VC-JWT by default; the unsigned JSON to who asks for JSON (a person reading it)."""
    rt = _rt()
    public_url = rt.settings.public_url
    wanted = request.accept_mimetypes.best_match(
        [ob3.MEDIA_TYPE, "application/json", "application/ld+json"], default=ob3.MEDIA_TYPE
    )
    with rt.db.session() as session:
        award = _native_award(session, public_id)
        if award.status == "revoked":
            return _credential_gone(award, public_url)
        doc = ob3.credential(session, award, public_url)
        if wanted != ob3.MEDIA_TYPE:
            response = _json(doc, "application/json" if wanted == "application/json" else JSONLD)
        else:
            response = Response(_signed(session, award, doc, public_url), mimetype=ob3.MEDIA_TYPE)
            response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.add("Accept")
    return response


@bp3.get("/credentials/<public_id>/image.svg")
def v3_baked_image(public_id: str) -> Response:
    """The badge image baked with the signed credential: the file alone is verifiable."""
    rt = _rt()
    public_url = rt.settings.public_url
    with rt.db.session() as session:
        award = _native_award(session, public_id)
        if award.status == "revoked":
            return _credential_gone(award, public_url)
        badge = session.get(BadgeClass, award.badge_class_id)
        assert badge is not None
        comp = session.get(Competency, badge.competency_id)
        level = session.get(Level, badge.level_id)
        assert comp is not None and level is not None
        token = _signed(session, award, ob3.credential(session, award, public_url), public_url)
        body = baking.bake_svg_credential(image.svg(comp.title, level.label, level.rank), token)
    return Response(body, mimetype="image/svg+xml", headers={"Cache-Control": "no-cache"})


@bp3.get("/credentials/<public_id>/image.png")
def v3_baked_png(public_id: str) -> Response:
    """The PNG variant, baked with the signed credential (iTXt "openbadgecredential")."""
    rt = _rt()
    public_url = rt.settings.public_url
    with rt.db.session() as session:
        award = _native_award(session, public_id)
        if award.status == "revoked":
            return _credential_gone(award, public_url)
        token = _signed(session, award, ob3.credential(session, award, public_url), public_url)
        return _png(baking.bake_png(baking.disc_png(_colour(session, award)), "openbadgecredential", token))
