"""Europass exports from the database, on SQLite and PostgreSQL: the sample frameworks shipped with
acquis give SHACL-conformant credentials, sealed or not, through the hook and through the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.cli.main import cli
from acquis.core import adapters, frameworks, snapshots
from acquis.core.db import Database
from acquis.core.errors import InvalidInput, NotFound
from acquis.core.events import ExportResult
from acquis.core.models import Award, BadgeClass, Competency, Learner, LearnerIdentifier, Level, Validation
from acquis.core.plugins import PluginHost
from acquis.plugins.europass import credential, seal, validator
from tests import helpers
from tests.conftest import REFERENCE, TEST_KEY
from tests.unit.test_europass import make_seal

SAMPLES = Path(frameworks.__file__).resolve().parent.parent / "data" / "frameworks"
WHEN = datetime(2026, 6, 30, 14, 0, tzinfo=UTC)


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = frameworks.load_yaml((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    return data


def learner(session: Session, est_id: int, name: str = "Ana Andromeda") -> Learner:
    person = Learner(establishment_id=est_id, display_name=name, email="ana@example.org")
    session.add(person)
    session.flush()
    session.add(
        LearnerIdentifier(
            establishment_id=est_id, learner_id=person.id, system="pegase:ine", value=f"INE{person.id}"
        )
    )
    return person


def validate_level(
    session: Session,
    tenant: helpers.Tenant,
    person: Learner,
    comp: Competency,
    rank: int,
    status: str = "validated",
) -> Validation:
    level = session.scalar(select(Level).where(Level.competency_id == comp.id, Level.rank == rank))
    assert level is not None
    v = Validation(
        establishment_id=tenant.est.id,
        learner_id=person.id,
        competency_id=comp.id,
        level_id=level.id,
        status=status,
        method="rule",
        evidence=["completion:1"],
        decided_at=WHEN,
        version=1,
    )
    session.add(v)
    session.flush()
    return v


def award(session: Session, v: Validation, status: str = "issued") -> Award:
    badge = session.scalar(select(BadgeClass).where(BadgeClass.level_id == v.level_id))
    assert badge is not None
    a = Award(
        establishment_id=v.establishment_id,
        badge_class_id=badge.id,
        learner_id=v.learner_id,
        validation_id=v.id,
        status=status,
        emitter="openbadges",
        receipt={"url": f"https://badges.univ.fr/ob/v2/assertions/{v.id}"},
        issued_at=WHEN,
    )
    session.add(a)
    session.flush()
    return a


def configure(session: Session, host: PluginHost, tenant: helpers.Tenant, **extra: str) -> None:
    values = {"legal_identifier": "19593560000018", "homepage": "https://www.univ.fr", **extra}
    adapters.update_settings(session, host, tenant.est, "europass", values)
    adapters.set_enabled(session, host, tenant.est, "europass", True)


def export(
    session: Session, host: PluginHost, tenant: helpers.Tenant, person: Learner, **chosen: Any
) -> ExportResult:
    achievements = credential.load_achievements(
        session, tenant.est, person.id, chosen.get("validations", ()), chosen.get("awards", ())
    )
    ctx = adapters.context(session, tenant.est, "europass", "https://badges.univ.fr")
    enabled = adapters.enabled_names(session, tenant.est.id)
    hook = host.caller("export_achievements", enabled)
    result: ExportResult | None = hook(
        ctx=ctx,
        learner=snapshots.learner_ref(session, person.id),
        format="europass",
        selection={"achievements": achievements},
    )
    assert result is not None
    return result


@pytest.mark.parametrize("name", ["demo", "centrale", "rncp-expert-si"])
def test_sample_frameworks_export_conformant_credentials(db: Database, host: PluginHost, name: str) -> None:
    data = sample(name)
    with db.session() as s:
        tenant = helpers.make_tenant(s, host, framework=data, adapters=("openbadges",))
        configure(s, host, tenant)
        person = learner(s, tenant.est.id)
        comps = s.scalars(
            select(Competency).where(Competency.framework_id == tenant.framework.id).order_by(Competency.id)
        ).all()
        top = [c for c in comps if c.parent_id is None][:3]
        pass_rank = tenant.framework.pass_rank or 1
        chosen = [validate_level(s, tenant, person, c, pass_rank + i % 2) for i, c in enumerate(top)]
        badge = award(s, chosen[0])
        result = export(s, host, tenant, person, validations=[v.id for v in chosen[1:]], awards=[badge.id])

    assert result.media_type == "application/json"
    doc = json.loads(result.content)["credential"]
    report = validator.validate(doc, REFERENCE)
    assert report.conforms, report.text()
    claims = doc["credentialSubject"]["hasClaim"]
    assert len(claims) == len(chosen)
    assert claims[0]["supplementaryDocument"][0]["contentURL"].endswith(f"/assertions/{chosen[0].id}")
    assert doc["issuer"]["registration"]["notation"] == "19593560000018"
    scale = claims[0]["provenBy"]["specifiedBy"]["gradingScheme"]["description"]["fr"]
    if name == "rncp-expert-si":
        assert scale.startswith("0 non acquis") and "acquis à partir de 2" in scale
    else:
        assert "niveaux progressifs" in scale


def test_sealed_export_with_the_certificate_from_the_encrypted_settings(
    db: Database, host: PluginHost
) -> None:
    cert_pem, key_pem = make_seal("ec")
    with db.session() as s:
        tenant = helpers.make_tenant(s, host)
        configure(s, host, tenant, seal_certificate=cert_pem, seal_key=key_pem)
        assert adapters.check(s, host, tenant.est, "europass", "https://badges.univ.fr").ok
        person = learner(s, tenant.est.id)
        comp = s.scalars(select(Competency).where(Competency.framework_id == tenant.framework.id)).first()
        assert comp is not None
        v = validate_level(s, tenant, person, comp, 1)
        result = export(s, host, tenant, person, validations=[v.id])
    assert result.media_type == "application/jose+json"
    verified = seal.verify(result.content, x509.load_pem_x509_certificate(cert_pem.encode()))
    assert validator.validate(verified.credential, REFERENCE).conforms


def test_only_what_the_learner_earned_can_be_chosen(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        tenant = helpers.make_tenant(s, host)
        ana, bob = learner(s, tenant.est.id), learner(s, tenant.est.id, "Bob")
        c1, c2 = s.scalars(select(Competency).where(Competency.framework_id == tenant.framework.id)).all()[:2]
        mine = validate_level(s, tenant, ana, c1, 1)
        pending = validate_level(s, tenant, ana, c2, 1, status="pending_approval")
        theirs = validate_level(s, tenant, bob, c1, 1)
        failed_badge = award(s, mine, status="failed")
        with pytest.raises(NotFound):
            credential.load_achievements(s, tenant.est, ana.id, [theirs.id])
        with pytest.raises(InvalidInput, match="pending_approval"):
            credential.load_achievements(s, tenant.est, ana.id, [pending.id])
        with pytest.raises(InvalidInput, match="failed"):
            credential.load_achievements(s, tenant.est, ana.id, award_ids=[failed_badge.id])
        other = helpers.make_tenant(s, host, slug="univ-b")
        with pytest.raises(NotFound):
            credential.load_achievements(s, other.est, ana.id, [mine.id])
        assert [a.validation_id for a in credential.load_achievements(s, tenant.est, ana.id, [mine.id])] == [
            mine.id
        ]


def test_cli_exports_to_a_file(db: Database, tmp_path: Path) -> None:
    host = PluginHost()
    with db.session() as s:
        tenant = helpers.make_tenant(s, host)
        configure(s, host, tenant)
        person = learner(s, tenant.est.id)
        comp = s.scalars(select(Competency).where(Competency.framework_id == tenant.framework.id)).first()
        assert comp is not None
        v = validate_level(s, tenant, person, comp, 1)
        ids = (person.id, v.id)
    env = {
        "ACQUIS_DATABASE_URL": db.settings.database_url,
        "ACQUIS_INSTANCE_PATH": str(tmp_path / "instance"),
        "ACQUIS_SECRET_KEYS": TEST_KEY,
        "ACQUIS_PUBLIC_URL": "https://badges.univ.fr",
    }
    out = tmp_path / "ana.json"
    runner = CliRunner()
    args = [
        "europass",
        "export",
        "univ-a",
        "--learner",
        str(ids[0]),
        "--validation",
        str(ids[1]),
        "-o",
        str(out),
    ]
    result = runner.invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "unsigned (uploadable)\t1 achievement(s)" in result.output
    doc = json.loads(out.read_text(encoding="utf-8"))["credential"]
    assert validator.validate(doc, REFERENCE).conforms

    nothing = runner.invoke(cli, ["europass", "export", "univ-a", "--learner", str(ids[0])], env=env)
    assert nothing.exit_code != 0 and "--validation" in nothing.output
    unknown = runner.invoke(cli, [*args[:5], "--validation", "999999"], env=env)
    assert unknown.exit_code != 0 and "no validation 999999" in unknown.output
    assert "Traceback" not in unknown.output


def test_validated_at_falls_back_to_creation(db: Database, host: PluginHost) -> None:
    with db.session() as s:
        tenant = helpers.make_tenant(s, host)
        person = learner(s, tenant.est.id)
        comp = s.scalars(select(Competency).where(Competency.framework_id == tenant.framework.id)).first()
        assert comp is not None
        v = validate_level(s, tenant, person, comp, 1)
        v.decided_at = None
        v.created_at = WHEN - timedelta(days=1)
        s.flush()
        (a,) = credential.load_achievements(s, tenant.est, person.id, [v.id])
    assert a.validated_at == WHEN - timedelta(days=1)
