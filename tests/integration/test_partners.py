"""Partners attest only within their domain; attestations count like any other evidence."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from acquis.core import establishments, partners
from acquis.core.db import Database
from acquis.core.errors import InvalidInput
from acquis.core.ingest import ingest
from acquis.core.models import Attestation, Award, BadgeClass, Learner, utcnow
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from tests import helpers
from tests.integration.test_rules import statuses

BLOCKED = {
    "code": "rncp",
    "title": "RNCP",
    "blocks": [
        {
            "code": "B1",
            "title": "Piloter",
            "competencies": [{"code": "C.1", "title": "a"}, {"code": "C.2", "title": "b"}],
        },
        {"code": "B2", "title": "Concevoir", "competencies": [{"code": "C.5", "title": "c"}]},
    ],
}


@pytest.fixture
def learner_id(db: Database, host: PluginHost) -> int:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-a")
        partners.create(s, t.est, "asso-num", "Association Numérique", ["C1"], kind="association")
        est = establishments.get(s, "univ-a")
        ingest(
            s, host, est.id, [f for f in parse_batch([helpers.statement(user="5", cmid=99)], utcnow()) if f]
        )
        return int(s.scalars(select(Learner.id)).one())


def test_an_attestation_inside_the_domain_validates_the_level(
    db: Database, host: PluginHost, learner_id: int
) -> None:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        a = partners.attest(
            s,
            host,
            est,
            "asso-num",
            learner_id,
            "C1",
            "Novice",
            "Mme Durand",
            evidence_url="https://asso.example/projets/42",
            note="Animation d'ateliers",
        )
        assert a.status == "accepted" and a.reason is None
    assert statuses(db, "C1") == {"Novice": "validated"}
    with db.session() as s:
        award = s.scalars(select(Award)).one()
        assert award.status == "pending"


def test_an_attestation_outside_the_domain_is_refused_with_the_reason(
    db: Database, host: PluginHost, learner_id: int
) -> None:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        a = partners.attest(s, host, est, "asso-num", learner_id, "C2", "Novice", "Mme Durand")
        assert a.status == "refused"
        assert a.reason is not None and "C2 is outside the domain of Association Numérique (C1)" in a.reason
    assert statuses(db, "C2") == {}
    with db.session() as s:
        assert s.scalars(select(Attestation.status)).all() == ["refused"]  # kept, with its reason


def test_partner_evidence_follows_progression_and_jury(
    db: Database, host: PluginHost, learner_id: int
) -> None:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        partners.attest(s, host, est, "asso-num", learner_id, "C1", "Intermédiaire", "Mme Durand")
    assert statuses(db, "C1") == {}  # kept until Novice is reached
    with db.session() as s:
        s.execute(update(BadgeClass).values(requires_approval=True))
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        partners.attest(s, host, est, "asso-num", learner_id, "C1", "Novice", "Mme Durand")
    assert statuses(db, "C1") == {"Novice": "pending_approval"}  # Intermédiaire waits for the jury


def test_withdrawing_an_attestation_revokes_what_rested_on_it(
    db: Database, host: PluginHost, learner_id: int
) -> None:
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        a = partners.attest(s, host, est, "asso-num", learner_id, "C1", "Novice", "Mme Durand")
        aid = a.id
    with db.session() as s:
        est = establishments.get(s, "univ-a")
        w = partners.withdraw(s, host, est, aid, by="Mme Durand", reason="erreur de personne")
        assert w.status == "withdrawn" and "erreur de personne" in (w.reason or "")
    assert statuses(db, "C1") == {"Novice": "revoked"}
    with db.session() as s:
        assert s.scalars(select(Award.status)).all() == ["revoked"]


def test_a_domain_can_name_a_block_and_facets_belong_to_their_competency(
    db: Database, host: PluginHost
) -> None:
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-b", framework=BLOCKED)
        p = partners.create(s, t.est, "entreprise", "SSII Conseil", ["B1"], kind="company")
        assert sorted(c.code for c in p.domain) == ["C.1", "C.2"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"code": "bad code"}, "code"),
        ({"name": " "}, "name"),
        ({"kind": "club"}, "kind"),
        ({"domain": []}, "domain"),
        ({"domain": ["C9"]}, "domain"),
    ],
)
def test_partner_declaration_is_validated(db: Database, host: PluginHost, kwargs: dict, field: str) -> None:  # type: ignore[type-arg]
    args = {"code": "p1", "name": "Partenaire", "domain": ["C1"], "kind": "association"} | kwargs
    with db.session() as s:
        t = helpers.make_tenant(s, host, "univ-c")
        with pytest.raises(InvalidInput) as err:
            partners.create(s, t.est, **args)
        assert err.value.field == field
