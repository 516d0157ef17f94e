"""The admin console over HTTP (Flask's test client): who sees what, and what each form changes.

Local administrators sign in with a password (throttled) and see every establishment; an LTI
Administrator sees its own establishment only, and any request for another answers 403.
Changes go through the same core functions as the CLI, validated before anything is written.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from acquis.core import adapters, admins, crypto, establishments, frameworks
from acquis.core.delivery import Deliverer
from acquis.core.ingest import ingest
from acquis.core.models import (
    AdapterConfig,
    AdminUser,
    Award,
    Establishment,
    LtiPlatform,
    OutboxMessage,
    utcnow,
)
from acquis.core.runtime import Runtime
from acquis.core.xapi import parse_batch
from acquis.lti import registration
from acquis.lti import session as lti_session
from acquis.web.app import create_app
from tests import helpers
from tests.conftest import PUBLIC_URL
from tests.i18n_checks import foreign_strings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Flask]:
    with runtime.db.session() as s:
        helpers.tag(s, helpers.make_tenant(s, runtime.host, "univ-a"), [1, 2])
        establishments.create(s, "univ-b", "Université univ-b")  # the establishment one may not see
        admins.add_user(s, "it@univ-a.fr", PASSWORD)
    yield create_app(runtime)


def _token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _login(app: Flask, password: str = PASSWORD, lang: str = "fr") -> tuple[FlaskClient, int]:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    page = client.get("/admin/login").get_data(as_text=True)
    response = client.post(
        "/admin/login", data={"csrf_token": _token(page), "email": "IT@univ-a.fr", "password": password}
    )
    return client, response.status_code


def _local(app: Flask, lang: str = "fr") -> FlaskClient:
    client, status = _login(app, lang=lang)
    assert status == 303
    return client


def _lti_admin(app: Flask, runtime: Runtime, slug: str = "univ-a", locale: str = "en-GB") -> FlaskClient:
    with runtime.db.session() as s:
        est = establishments.get(s, slug)
        session = lti_session.LtiSession(
            establishment_id=est.id,
            establishment_slug=slug,
            platform_id=0,
            deployment_id="1",
            context_id="",
            context_title="",
            user_sub="admin-1",
            user_name="Dominique Admin",
            role="admin",
            locale=locale,
        )
    client = app.test_client()
    with app.test_request_context():
        client.set_cookie(lti_session.COOKIE, lti_session.dumps(session))
    return client


def _text(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return html.unescape(response.get_data(as_text=True))


def _earn(runtime: Runtime, slug: str, *users: str) -> None:
    with runtime.db.session() as s:
        est_id = establishments.get(s, slug).id
        facts = [f for u in users for f in parse_batch([helpers.statement(user=u, cmid=1)], utcnow()) if f]
        ingest(s, runtime.host, est_id, facts)
    Deliverer(runtime.db, runtime.host, "w", PUBLIC_URL).run_once()


# ---- signing in ----------------------------------------------------------------------------------
def test_pages_need_an_admin_and_the_login_needs_its_csrf_token(app: Flask) -> None:
    anonymous = app.test_client()
    response = anonymous.get("/admin/e/univ-a/adapters")
    assert response.status_code == 303 and "/admin/login" in response.headers["Location"]
    no_token = anonymous.post("/admin/login", data={"email": "it@univ-a.fr", "password": PASSWORD})
    assert no_token.status_code == 403
    _, wrong = _login(app, password="not the password at all")
    assert wrong == 401


def test_failed_logins_lock_the_account_even_for_the_right_password(app: Flask, runtime: Runtime) -> None:
    for _ in range(admins.MAX_FAILURES):
        assert _login(app, password="guess guess guess")[1] == 401
    assert _login(app)[1] == 429  # locked: the right password waits too
    with runtime.db.session() as s:
        user = s.scalars(select(AdminUser)).one()
        assert user.locked_until is not None and user.failed_logins == admins.MAX_FAILURES
        assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
        user.locked_until = utcnow()  # the lock has run out
    assert _login(app)[1] == 303


def test_an_lti_administrator_sees_only_its_own_establishment(app: Flask, runtime: Runtime) -> None:
    client = _lti_admin(app, runtime, "univ-a")
    assert client.get("/admin/").headers["Location"].endswith("/admin/e/univ-a/")
    token = _token(client.get("/admin/e/univ-a/adapters/obf").get_data(as_text=True))
    for path in (
        "/admin/e/univ-b/",
        "/admin/e/univ-b/adapters/obf",
        "/admin/e/univ-b/dashboard",
        "/admin/e/univ-b/dashboard/delivery-health.csv",
        "/admin/e/univ-b/deliveries",
    ):
        assert client.get(path).status_code == 403, path
    attempt = client.post(
        "/admin/e/univ-b/adapters/obf/settings", data={"csrf_token": token, "client_id": "stolen"}
    )
    assert attempt.status_code == 403
    # and only a local administrator creates establishments
    created = client.post("/admin/establishments", data={"csrf_token": token, "slug": "x", "name": "X"})
    assert created.status_code == 403
    with runtime.db.session() as s:
        assert s.scalar(select(func.count(AdapterConfig.id)).where(AdapterConfig.adapter == "obf")) == 0
        assert s.scalar(select(func.count(Establishment.id))) == 2


def test_a_local_administrator_sees_every_establishment_and_creates_one(app: Flask, runtime: Runtime) -> None:
    client = _local(app)
    page = _text(client, "/admin/")
    assert "univ-a" in page and "univ-b" in page and "Établissements" in page
    token = _token(page)
    bad = client.post("/admin/establishments", data={"csrf_token": token, "slug": "Bad Slug", "name": "X"})
    assert bad.status_code == 400 and "slug" in bad.get_data(as_text=True)
    good = client.post(
        "/admin/establishments", data={"csrf_token": token, "slug": "univ-c", "name": "Université C"}
    )
    shown = good.get_data(as_text=True)
    secret = re.search(r'id="new-secret">([^<]+)<', shown)
    key = re.search(r'id="new-key">([^<]+)<', shown)
    assert good.status_code == 200 and secret and key
    with runtime.db.session() as s:
        assert establishments.authenticate(s, key.group(1), html.unescape(secret.group(1))) is not None
        assert s.scalar(select(func.count(Establishment.id))) == 3
    assert html.unescape(secret.group(1)) not in _text(client, "/admin/")  # shown once only


# ---- adapters ------------------------------------------------------------------------------------
def test_adapter_settings_keep_secrets_write_only(app: Flask, runtime: Runtime) -> None:
    client = _local(app)
    page = client.get("/admin/e/univ-a/adapters/obf").get_data(as_text=True)
    token = _token(page)
    enable = client.post("/admin/e/univ-a/adapters/obf/enabled", data={"csrf_token": token, "enabled": "1"})
    assert enable.status_code == 400 and "client_id" in enable.get_data(as_text=True)  # required first
    bad = client.post(
        "/admin/e/univ-a/adapters/obf/settings",
        data={"csrf_token": token, "client_id": "c-1", "client_secret": "s3cr3t-value", "api_url": "nope"},
    )
    assert bad.status_code == 400 and "api_url" in bad.get_data(as_text=True)
    with runtime.db.session() as s:  # a bad value changed nothing, not even the good ones
        assert s.scalar(select(AdapterConfig).where(AdapterConfig.adapter == "obf")) is None
    saved = client.post(
        "/admin/e/univ-a/adapters/obf/settings",
        data={"csrf_token": token, "client_id": "c-1", "client_secret": "s3cr3t-value"},
    )
    assert saved.status_code == 303
    after = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "s3cr3t-value" not in after and "Enregistré : oui" in html.unescape(after)
    # an empty secret field keeps the stored secret
    client.post("/admin/e/univ-a/adapters/obf/settings", data={"csrf_token": token, "client_id": "c-2"})
    with runtime.db.session() as s:
        est = establishments.get(s, "univ-a")
        ctx = adapters.context(s, est, "obf", PUBLIC_URL)
        assert ctx.settings["client_id"] == "c-2" and ctx.settings["client_secret"] == "s3cr3t-value"
        raw = s.execute(text("SELECT secrets FROM adapter_config WHERE adapter = 'obf'")).scalar_one()
        assert raw and "s3cr3t-value" not in str(raw)  # encrypted at rest
    enabled = client.post("/admin/e/univ-a/adapters/obf/enabled", data={"csrf_token": token, "enabled": "1"})
    assert enabled.status_code == 303
    with runtime.db.session() as s:
        assert "obf" in adapters.enabled_names(s, establishments.get(s, "univ-a").id)


def test_check_shows_the_adapters_own_diagnosis(app: Flask, runtime: Runtime) -> None:
    client = _local(app, lang="en")
    token = _token(client.get("/admin/e/univ-a/adapters/obf").get_data(as_text=True))
    client.post(
        "/admin/e/univ-a/adapters/obf/settings",
        data={"csrf_token": token, "client_id": "c-1", "api_url": "http://127.0.0.1:9", "timeout": "2"},
    )
    page = client.post("/admin/e/univ-a/adapters/obf/check", data={"csrf_token": token})
    text = html.unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and "Connection failed" in text
    with runtime.db.session() as s:
        expected = adapters.check(s, runtime.host, establishments.get(s, "univ-a"), "obf", PUBLIC_URL)
    assert not expected.ok and expected.message in text


def test_forms_refuse_a_missing_csrf_token(app: Flask, runtime: Runtime) -> None:
    client = _local(app)
    response = client.post("/admin/e/univ-a/adapters/obf/settings", data={"client_id": "c-1"})
    assert response.status_code == 403


# ---- platforms -----------------------------------------------------------------------------------
def test_platforms_page_gives_the_registration_url_and_registers_by_hand(
    app: Flask, runtime: Runtime
) -> None:
    client = _lti_admin(app, runtime, "univ-a", locale="fr-FR")
    page = client.get("/admin/e/univ-a/platforms").get_data(as_text=True)
    url = re.search(r'id="registration-url" readonly value="([^"]+)"', page)
    assert url and url.group(1).startswith(f"{PUBLIC_URL}/e/univ-a/lti/register/")
    code = url.group(1).rsplit("/", 1)[1]
    assert registration.check_code(crypto.configured_keys(), "univ-a", code)
    assert not registration.check_code(crypto.configured_keys(), "univ-b", code)
    form = {
        "csrf_token": _token(page),
        "issuer": "https://moodle.univ-a.fr",
        "client_id": "abc",
        "deployment_ids": "1, 2",
        "auth_login_url": "https://moodle.univ-a.fr/mod/lti/auth.php",
        "token_url": "not a url",
        "jwks_url": "https://moodle.univ-a.fr/mod/lti/certs.php",
    }
    bad = client.post("/admin/e/univ-a/platforms", data=form)
    assert bad.status_code == 400 and "token-url" in bad.get_data(as_text=True)
    with runtime.db.session() as s:
        assert s.scalar(select(func.count(LtiPlatform.id))) == 0
    form["token_url"] = "https://moodle.univ-a.fr/mod/lti/token.php"
    assert client.post("/admin/e/univ-a/platforms", data=form).status_code == 303
    listed = _text(client, "/admin/e/univ-a/platforms")
    assert "https://moodle.univ-a.fr" in listed and "1, 2" in listed and "à la main" in listed


# ---- failed deliveries ---------------------------------------------------------------------------
def test_failed_deliveries_show_the_reason_and_retry(app: Flask, runtime: Runtime) -> None:
    with runtime.db.session() as s:
        adapters.set_enabled(s, runtime.host, establishments.get(s, "univ-a"), "openbadges", False)
    _earn(runtime, "univ-a", "7")
    client = _local(app)
    page = _text(client, "/admin/e/univ-a/deliveries")
    assert "acquis adapter enable" in page and "Learner 7" in page
    with runtime.db.session() as s:
        msg = s.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")).one()
        adapters.set_enabled(s, runtime.host, establishments.get(s, "univ-a"), "openbadges", True)
    token = _token(page)
    # the same message through another establishment's URL is not found there
    assert (
        client.post(f"/admin/e/univ-b/deliveries/{msg.id}/retry", data={"csrf_token": token}).status_code
        == 404
    )
    done = client.post(f"/admin/e/univ-a/deliveries/{msg.id}/retry", data={"csrf_token": token})
    assert done.status_code == 303
    Deliverer(runtime.db, runtime.host, "w", PUBLIC_URL).run_once()
    assert "Aucune livraison en échec." in _text(client, "/admin/e/univ-a/deliveries")


# ---- dashboards ----------------------------------------------------------------------------------
def _csv(client: FlaskClient, key: str) -> list[tuple[str, int]]:
    response = client.get(f"/admin/e/univ-a/dashboard/{key}.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    return [(label, int(value)) for label, value in rows[1:]]


def _bars(page: str, key: str) -> list[tuple[str, int]]:
    svg = re.search(rf'<svg[^>]*aria-labelledby="chart-{key}-title[^"]*"[^>]*>(.*?)</svg>', page, re.S)
    if svg is None:  # an empty chart is not drawn ("Nothing yet"): its CSV must be empty too
        return []
    return [
        (html.unescape(label), int(value))
        for label, value in re.findall(
            r'<g class="bar" data-label="([^"]*)" data-value="(\d+)">', svg.group(1)
        )
    ]


def test_dashboards_draw_the_figures_their_csv_downloads_give(app: Flask, runtime: Runtime) -> None:
    with runtime.db.session() as s:
        other = establishments.get(s, "univ-b")
        fw = frameworks.import_definition(s, other, helpers.DEMO_FRAMEWORK, create_badges=True)
        helpers.tag(s, helpers.Tenant(other, None, fw), [1])  # type: ignore[arg-type]
    _earn(runtime, "univ-a", "1", "2", "3")
    _earn(runtime, "univ-b", "9")  # another establishment's badge counts nowhere here
    with runtime.db.session() as s:
        issued = select(func.count(Award.id)).where(Award.status == "issued")
        assert s.scalar(issued.where(Award.establishment_id == other.id)) == 1
    client = _local(app)
    page = client.get("/admin/e/univ-a/dashboard").get_data(as_text=True)
    keys = (
        "issued-by-month",
        "issued-by-level",
        "issued-by-course",
        "issued-by-programme",
        "pending-jury",
        "delivery-health",
    )
    for key in keys:
        assert _bars(page, key) == _csv(client, key), key
    assert sum(v for _, v in _csv(client, "issued-by-month")) == 3
    assert _csv(client, "issued-by-month")[-1] == (utcnow().strftime("%Y-%m"), 3)
    assert _csv(client, "issued-by-level") == [("C1 · Novice", 3)]
    assert _csv(client, "issued-by-course") == [("http://www.example.org/course/view.php?id=2", 3)]
    assert dict(_csv(client, "delivery-health"))["livrées"] >= 3
    assert '<title id="chart-issued-by-level-title">Badges délivrés par compétence et niveau</title>' in page
    english = _local(app, lang="en")
    assert ("delivered", dict(_csv(english, "delivery-health"))["delivered"]) in _csv(
        english, "delivery-health"
    )


# ---- every page, both languages, labelled inputs -------------------------------------------------
class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label" and a.get("for"):
            self.labelled.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.fields.append(a)


PAGES = (
    "/admin/",
    "/admin/e/univ-a/",
    "/admin/e/univ-a/platforms",
    "/admin/e/univ-a/adapters",
    "/admin/e/univ-a/adapters/obf",
    "/admin/e/univ-a/adapters/europass",
    "/admin/e/univ-a/deliveries",
    "/admin/e/univ-a/dashboard",
)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_page_speaks_the_language_and_labels_every_field(app: Flask, lang: str) -> None:
    client = _local(app, lang=lang)
    pages = [_text(client, path) for path in PAGES]
    login = app.test_client()
    login.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    pages.append(_text(login, "/admin/login"))
    for page in pages:
        assert f'<html lang="{lang}">' in page
        assert ("Aller au contenu" in page) == (lang == "fr") and ("Skip to content" in page) == (
            lang == "en"
        )
        form = _Form()
        form.feed(page)
        unlabelled = [f for f in form.fields if f.get("id") not in form.labelled and not f.get("aria-label")]
        assert unlabelled == []
        assert foreign_strings(page, lang) == []
    console = "\n".join(pages[:-1])
    for word in ("Établissements", "Connecteurs", "Tableaux de bord", "Livraisons en échec"):
        assert (word in console) == (lang == "fr"), word
