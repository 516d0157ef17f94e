"""Builders shared by tests: a ready establishment, statements shaped like Moodle's."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from acquis.core import establishments, frameworks, tags
from acquis.core.establishments import NewCredential
from acquis.core.models import Establishment, Framework
from acquis.core.plugins import PluginHost
from tests.conftest import REFERENCE

MOODLE = "http://www.example.org"
DEMO_FRAMEWORK = {
    "code": "demo",
    "title": "Démo",
    "scale": ["Novice", "Intermédiaire", "Compétent", "Avancé", "Expert"],
    "competencies": [
        {"code": "C1", "title": "Chercher l'information"},
        {"code": "C2", "title": "Gérer des données"},
    ],
}


def reference_statement(name: str = "module-completed") -> dict[str, Any]:
    with open(REFERENCE / "xapi" / f"{name}.statements.json", encoding="utf-8") as fh:
        statements: list[dict[str, Any]] = json.load(fh)
    return statements[0]


def statement(
    user: str = "1",
    cmid: int = 1,
    verb: str = "completed",
    success: bool | None = True,
    scaled: float | None = None,
    timestamp: str | None = None,
    home: str = MOODLE,
) -> dict[str, Any]:
    """A statement as logstore_xapi sends it, varied by learner, module and result."""
    st = copy.deepcopy(
        reference_statement("module-uncompleted" if verb == "uncompleted" else "module-completed")
    )
    st["actor"]["account"] = {"homePage": home, "name": user}
    st["actor"]["name"] = f"Learner {user}"
    st["object"]["id"] = f"{home}/mod/book/view.php?id={cmid}"
    st["object"]["definition"]["name"] = {"en": f"Module {cmid}"}
    if verb in ("passed", "failed"):
        st["verb"] = {"id": f"http://adlnet.gov/expapi/verbs/{verb}", "display": {"en": verb}}
    if verb != "uncompleted":
        result: dict[str, Any] = {"completion": True}
        if success is not None:
            result["success"] = success
        if scaled is not None:
            result["score"] = {"scaled": scaled}
        st["result"] = result
    if timestamp is not None:
        st["timestamp"] = timestamp
    return st


@dataclass
class Tenant:
    est: Establishment
    cred: NewCredential
    framework: Framework


def make_tenant(
    session: Session,
    host: PluginHost,
    slug: str = "univ-a",
    framework: dict[str, Any] | None = None,
    badges: bool = True,
    adapters: tuple[str, ...] = ("openbadges",),
) -> Tenant:
    est, cred = establishments.create(
        session, slug, f"Université {slug}", contact_email=f"badges@{slug}.fr", default_adapters=adapters
    )
    fw = frameworks.import_definition(session, est, framework or DEMO_FRAMEWORK, create_badges=badges)
    return Tenant(est, cred, fw)


def tag(
    session: Session,
    tenant: Tenant,
    cmids: list[int],
    competency: str = "C1",
    level: str = "Novice",
    trigger: str = "completion",
    min_grade: float | None = None,
    required: int = 1,
) -> None:
    lv = tags.find_level(session, tenant.est, competency, level)
    tags.add_rule(
        session,
        tenant.est,
        lv,
        [f"{MOODLE}/mod/book/view.php?id={c}" for c in cmids],
        trigger,
        min_grade,
        required,
    )
