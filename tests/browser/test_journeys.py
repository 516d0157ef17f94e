"""Three journeys in a real browser, each starting with a real LTI 1.3 launch from a platform.

The platform is the lti1p3platform-based fake (an implementation independent of the tool's
PyLTI1p3); its OIDC answer is the launch form that the browser posts, as Moodle's page would.
One server, one establishment and one browser serve the three journeys, in order: a teacher
tags an activity (which validates a student's past completion), the student sees the level
and the badge and downloads the Europass file, an admin enables OpenBadge Factory (the HTTP
fake of OBF) and tests the connection. Each leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from acquis.core import adapters, establishments, migrate
from acquis.core.db import Database, make_engine
from acquis.core.delivery import Deliverer
from acquis.core.ingest import ingest
from acquis.core.models import Award, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.runtime import Runtime
from acquis.core.settings import Settings
from acquis.core.xapi import parse_batch
from acquis.web.app import create_app
from tests import helpers, live
from tests.conftest import PUBLIC_URL, TEST_KEY
from tests.fakes.lti_env import register
from tests.fakes.lti_platform import ADMIN, INSTRUCTOR, LEARNER, FakePlatform
from tests.fakes.obf import FakeOBF, running

SLUG = "univ-demo"
COURSE = "2"
STUDENT = "u-42"


@dataclass
class Site:
    runtime: Runtime
    tool_url: str
    platform: FakePlatform
    obf: FakeOBF
    obf_url: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / 'acquis.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    settings = Settings(
        instance_path=folder / "instance",
        database_url=url,
        public_url=PUBLIC_URL,
        secret_keys=(TEST_KEY,),
        worker="none",
    )
    rt = Runtime(settings=settings, db=Database(settings), host=PluginHost())
    platform = FakePlatform()
    obf = FakeOBF()
    obf.add_client("obf-client", "obf-secret", badges=(("B1", "Chercher l'information"),))
    with live.serve(create_app(rt)) as tool_url, live.serve(platform.app) as p_url, running(obf) as obf_url:
        platform.base_url, platform.tool_url = p_url, tool_url
        with rt.db.session() as s:
            helpers.make_tenant(s, rt.host, SLUG, adapters=("openbadges",))
            est = establishments.get(s, SLUG)
            adapters.update_settings(s, rt.host, est, "europass", {"legal_identifier": "19593560000017"})
            adapters.set_enabled(s, rt.host, est, "europass", True)
        register(rt, SLUG, platform)
        yield Site(rt, tool_url, platform, obf, obf_url)
    rt.db.dispose()


def _moodle_sends(site: Site, user: str, cmid: int) -> None:
    """What logstore_xapi posts when ``user`` completes module ``cmid`` of the platform's course."""
    statement = helpers.statement(user=user, cmid=cmid)
    statement = json.loads(json.dumps(statement).replace(helpers.MOODLE, site.platform.base_url))
    with site.runtime.db.session() as s:
        est_id = establishments.get(s, SLUG).id
        ingest(s, site.runtime.host, est_id, [f for f in parse_batch([statement], utcnow()) if f])


def _launch(browser: Browser, site: Site, roles: list[str], locale: str) -> Page:
    """A fresh browser session launched from the platform: the platform's form is posted to the tool."""
    site.platform.scenario.roles = roles
    site.platform.scenario.locale = locale
    site.platform.scenario.user_id = STUDENT if roles == [LEARNER] else "t-1"
    site.platform.scenario.context_id = COURSE
    context = browser.new_context(viewport={"width": 800, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.goto(site.platform.base_url + "/start")
    page.locator("form#lti").evaluate("form => form.submit()")
    page.wait_for_load_state()
    return page


def _shot(page: Page, artifacts: Path, name: str) -> None:
    """Keep a screenshot, after checking the page fits the 800 px of Moodle's iframe."""
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{name}: {overflow} px wider than the frame"
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def test_a_teacher_tags_an_activity(chromium: Browser, site: Site, artifacts: Path) -> None:
    _moodle_sends(site, STUDENT, cmid=5)  # the student completed module 5 before any tag
    page = _launch(chromium, site, [INSTRUCTOR], "fr-FR")
    expect(page.get_by_role("heading", name="Espace enseignant")).to_be_visible()
    page.get_by_label("Activité", exact=True).select_option(label="Module 5")
    page.get_by_label("Compétence et niveau").select_option(label="C1 Chercher l'information — Novice")
    page.get_by_label("Condition").select_option("completion")
    page.get_by_role("button", name="Associer").click()
    expect(page.get_by_role("status")).to_have_text("Enregistré.")
    expect(page.get_by_role("cell", name="C1 Chercher l'information — Novice")).to_be_visible()
    _shot(page, artifacts, "teacher-tags-an-activity")
    page.context.close()
    Deliverer(site.runtime.db, site.runtime.host, "w", PUBLIC_URL).run_once()
    with site.runtime.db.session() as s:
        assert s.scalars(select(Award.status)).all() == ["issued"]  # the past completion counted


def test_a_student_sees_progress_and_downloads_the_europass_file(
    chromium: Browser, site: Site, artifacts: Path
) -> None:
    page = _launch(chromium, site, [LEARNER], "fr-FR")
    expect(page.get_by_role("heading", name="Mon espace")).to_be_visible()
    expect(page.get_by_text("Novice (validé)")).to_be_visible()
    expect(page.get_by_text("Chercher l'information — Novice — délivré")).to_be_visible()
    _shot(page, artifacts, "student-progress")
    with page.expect_download() as info:
        page.get_by_role("button", name="Télécharger").click()
    download = info.value
    saved = artifacts / download.suggested_filename
    download.save_as(saved)
    credential = json.loads(saved.read_text(encoding="utf-8"))
    assert "Chercher l'information" in json.dumps(credential, ensure_ascii=False)
    page.context.close()


def test_an_admin_enables_obf_and_tests_the_connection(
    chromium: Browser, site: Site, artifacts: Path
) -> None:
    page = _launch(chromium, site, [ADMIN], "en")
    expect(
        page.get_by_role("heading", name="Establishment administration: Université univ-demo")
    ).to_be_visible()
    page.get_by_role("link", name="Adapters").click()
    page.get_by_role("link", name="OpenBadge Factory").click()
    page.get_by_label("OBF API URL").fill(site.obf_url)
    page.get_by_label("Client id").fill("obf-client")
    page.get_by_label("Client secret").fill("obf-secret")
    page.get_by_role("button", name="Save the settings").click()
    expect(page.get_by_role("status")).to_have_text("Saved.")
    expect(page.get_by_label("Client secret")).to_have_value("")  # write-only
    page.get_by_role("button", name="Enable").click()
    expect(page.locator("#state")).to_have_text("enabled")
    page.get_by_role("button", name="Test the connection").click()
    result = page.locator("#check-result")
    expect(result).to_contain_text("Connection works")
    expect(result).to_contain_text("connected to OBF")
    _shot(page, artifacts, "admin-obf-connection")
    page.get_by_role("link", name="Dashboards").click()
    chart = page.get_by_role("img", name="Badges issued per competency and level")
    expect(chart).to_be_visible()
    expect(chart.locator("g.bar")).to_have_count(1)  # the teacher's tag gave one badge
    _shot(page, artifacts, "admin-dashboards")
    page.context.close()
    assert site.obf.token_requests["obf-client"] >= 1
