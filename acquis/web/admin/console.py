"""The console pages: establishments, LTI platforms, adapters (settings, check), failed deliveries.

Every change goes through the core functions the CLI uses (``establishments.create``,
``platforms.add_manual``, ``adapters.update_settings``/``set_enabled``/``check``,
``delivery.retry``) and is validated whole before anything is written. Secret settings are
write-only: the form shows whether one is set, never its value, and an empty field keeps it.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from acquis.core import adapters, crypto, delivery, establishments, platforms
from acquis.core.errors import AcquisError
from acquis.core.events import AdapterSpec, CheckResult
from acquis.core.models import AdapterConfig, Establishment
from acquis.lti import registration
from acquis.web.admin import bp, queries, render
from acquis.web.admin.auth import admin, admin_required, local_required
from acquis.web.context import runtime
from acquis.web.i18n import _


def _done(endpoint: str, **values: Any) -> BaseResponse:
    return redirect(url_for(endpoint, saved=1, **values), code=303)


def _saved() -> str | None:
    return _("Saved.") if request.args.get("saved") else None


# ---- establishments ----------------------------------------------------------------------------
@bp.get("/")
@admin_required
def index() -> Any:
    who = admin()
    if who.slug is not None:
        return redirect(url_for("admin.establishment", slug=who.slug), code=303)
    return _index()


def _index(error: str | None = None, created: dict[str, str] | None = None, status: int = 200) -> Any:
    with runtime().db.session() as session:
        rows = [
            (est, sorted(a.adapter for a in est.adapters if a.enabled))
            for est in session.scalars(select(Establishment).order_by(Establishment.slug))
        ]
        page = render(
            "admin/index.html",
            establishments=rows,
            locales=establishments.LOCALES,
            error=error,
            created=created,
            form=request.form,
        )
    return page, status


@bp.post("/establishments")
@local_required
def create_establishment() -> Any:
    admin().check_csrf()
    form = request.form
    try:
        with runtime().db.session() as session:
            est, cred = establishments.create(
                session,
                form.get("slug", "").strip(),
                form.get("name", ""),
                form.get("locale", "fr"),
                form.get("contact_email", "").strip() or None,
                form.get("website", "").strip() or None,
            )
            created = {"slug": est.slug, "key": cred.key, "secret": cred.secret}
    except AcquisError as exc:
        return _index(error=str(exc), status=400)
    # The credential is shown once, on this response, and never again.
    return _index(created=created)


@bp.get("/e/<slug>/")
@admin_required
def establishment(slug: str) -> str:
    with runtime().db.session() as session:
        est = establishments.get(session, slug)
        return render("admin/establishment.html", est=est, overview=queries.overview(session, est))


# ---- LTI platforms -----------------------------------------------------------------------------
def _platforms_page(slug: str, error: str | None = None, message: str | None = None) -> str:
    rt = runtime()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        rows = platforms.listing(session, est.id)
        base = rt.settings.public_url
        return render(
            "admin/platforms.html",
            est=est,
            platforms=[p for p, _slug in rows],
            registration_url=registration.registration_url(base, crypto.configured_keys(), slug),
            valid_hours=registration.CODE_HOURS,
            tool={
                "launch": f"{base}/lti/launch",
                "login": f"{base}/lti/login",
                "jwks": f"{base}/lti/jwks",
            },
            form=request.form,
            error=error,
            message=message or _saved(),
        )


@bp.get("/e/<slug>/platforms")
@admin_required
def platforms_page(slug: str) -> str:
    return _platforms_page(slug)


@bp.post("/e/<slug>/platforms")
@admin_required
def add_platform(slug: str) -> Any:
    admin().check_csrf()
    form = request.form
    try:
        with runtime().db.session() as session:
            platforms.add_manual(
                session,
                establishments.get(session, slug),
                form.get("issuer", "").strip(),
                form.get("client_id", "").strip(),
                form.get("deployment_ids", "").replace(",", " ").split(),
                form.get("auth_login_url", "").strip(),
                form.get("token_url", "").strip(),
                form.get("jwks_url", "").strip(),
            )
    except AcquisError as exc:
        return _platforms_page(slug, error=str(exc)), 400
    return _done("admin.platforms_page", slug=slug)


# ---- adapters ----------------------------------------------------------------------------------
def _configs(session: Any, est: Establishment) -> dict[str, AdapterConfig]:
    return {
        c.adapter: c
        for c in session.scalars(select(AdapterConfig).where(AdapterConfig.establishment_id == est.id))
    }


@bp.get("/e/<slug>/adapters")
@admin_required
def adapters_page(slug: str) -> str:
    rt = runtime()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        configs = _configs(session, est)
        rows = [
            (rt.host.spec(name), bool(configs.get(name) and configs[name].enabled)) for name in rt.host.names
        ]
        return render("admin/adapters.html", est=est, adapters=rows, message=_saved())


def _adapter_page(
    slug: str, name: str, error: str | None = None, check: CheckResult | None = None, status: int = 200
) -> Any:
    rt = runtime()
    with rt.db.session() as session:
        est = establishments.get(session, slug)
        spec: AdapterSpec = rt.host.spec(name)
        cfg = _configs(session, est).get(name)
        shown = adapters.shown_settings(cfg, spec) if cfg is not None else {}
        page = render(
            "admin/adapter.html",
            est=est,
            spec=spec,
            enabled=bool(cfg and cfg.enabled),
            shown=shown,
            error=error,
            check=check,
            message=_saved(),
        )
    return page, status


@bp.get("/e/<slug>/adapters/<name>")
@admin_required
def adapter_page(slug: str, name: str) -> Any:
    return _adapter_page(slug, name)


@bp.post("/e/<slug>/adapters/<name>/settings")
@admin_required
def adapter_settings(slug: str, name: str) -> Any:
    admin().check_csrf()
    rt = runtime()
    try:
        spec = rt.host.spec(name)
        values: dict[str, str] = {}
        for f in spec.settings:
            if f.kind == "boolean":
                values[f.name] = "true" if request.form.get(f.name) else "false"
                continue
            raw = request.form.get(f.name, "")
            if raw.strip():  # empty: unchanged (and a secret is never sent back to the page)
                values[f.name] = raw if f.secret else raw.strip()
        with rt.db.session() as session:
            adapters.update_settings(session, rt.host, establishments.get(session, slug), name, values)
    except AcquisError as exc:
        return _adapter_page(slug, name, error=str(exc), status=400)
    return _done("admin.adapter_page", slug=slug, name=name)


@bp.post("/e/<slug>/adapters/<name>/enabled")
@admin_required
def adapter_enabled(slug: str, name: str) -> Any:
    admin().check_csrf()
    rt = runtime()
    on = request.form.get("enabled") == "1"
    try:
        with rt.db.session() as session:
            adapters.set_enabled(session, rt.host, establishments.get(session, slug), name, on)
    except AcquisError as exc:
        return _adapter_page(slug, name, error=str(exc), status=400)
    return _done("admin.adapter_page", slug=slug, name=name)


@bp.post("/e/<slug>/adapters/<name>/check")
@admin_required
def adapter_check(slug: str, name: str) -> Any:
    admin().check_csrf()
    rt = runtime()
    with rt.db.session() as session:
        result = adapters.check(
            session, rt.host, establishments.get(session, slug), name, rt.settings.public_url
        )
    return _adapter_page(slug, name, check=result)


# ---- failed deliveries -------------------------------------------------------------------------
@bp.get("/e/<slug>/deliveries")
@admin_required
def deliveries(slug: str) -> str:
    with runtime().db.session() as session:
        est = establishments.get(session, slug)
        return render(
            "admin/deliveries.html",
            est=est,
            failed=queries.failed_deliveries(session, est.id),
            message=_("Queued for delivery again.") if request.args.get("saved") else None,
        )


@bp.post("/e/<slug>/deliveries/<int:message_id>/retry")
@admin_required
def retry(slug: str, message_id: int) -> Any:
    admin().check_csrf()
    rt = runtime()
    with rt.db.session() as session:
        delivery.retry(session, establishments.get(session, slug).id, message_id)
    rt.notify()
    return _done("admin.deliveries", slug=slug)
