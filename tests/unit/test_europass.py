"""Europass credentials without a database: the builder against the official EDC shapes, the seal.

The shapes, contexts and samples are the European Learning Model's published files in the shared
reference folder; nothing is fetched from the web.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from acquis.core.errors import ConfigurationError, InvalidInput
from acquis.core.events import AdapterContext, EstablishmentRef, LearnerRef
from acquis.plugins.europass import credential, plugin, seal, validator
from tests.conftest import REFERENCE

ELM = REFERENCE / "elm"
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
SCALE = tuple(
    credential.ScaleLevel(i, code, label)
    for i, code, label in [
        (1, "novice", "Novice"),
        (2, "intermediaire", "Intermédiaire"),
        (3, "competent", "Compétent"),
    ]
)
ISSUER = credential.IssuerInfo(
    name="Université de Lille",
    legal_identifier="13002301300017",
    identifier_scheme="SIRET",
    eidas_identifier="NTRFR-13002301300017",
    homepage="https://www.univ-lille.fr",
    email="badges@univ-lille.fr",
)
SUBJECT = credential.SubjectInfo("Ana Andromeda", "ana@example.org", {"pegase:ine": "123456789AB"})


def achievement(vid: int = 1, rank: int = 1, **kw: Any) -> credential.Achievement:
    fields: dict[str, Any] = {
        "validation_id": vid,
        "framework_code": "demo",
        "framework_title": "Compétences numériques",
        "competency_code": f"C{vid}",
        "competency_title": f"Compétence {vid}",
        "competency_description": "Mener une recherche et une veille d'information",
        "level": SCALE[rank - 1],
        "scale": SCALE,
        "pass_rank": None,
        "method": "rule",
        "validated_at": NOW - timedelta(days=3),
    }
    fields.update(kw)
    return credential.Achievement(**fields)


def build(*achievements: credential.Achievement) -> dict[str, Any]:
    return credential.build_credential(ISSUER, SUBJECT, achievements or (achievement(),), NOW)


# --- the shapes, on the official sample first: the check itself must be right ----------------


def _sample() -> dict[str, Any]:
    with open(ELM / "Sample-CertOfPart-unsigned.jsonld", encoding="utf-8") as fh:
        doc: dict[str, Any] = json.load(fh)
    return doc


def test_official_sample_parses_offline_and_fails_only_what_sealing_adds() -> None:
    report = validator.validate(_sample(), REFERENCE)
    assert report.triples == 156
    # The unsigned sample lacks what the EDC sealing service adds: cred:issued and the issuer's
    # eIDAS identifier (taken from the seal certificate).
    assert report.failing_shapes() == {
        "edc:EuropeanDigitalCredential-cred_issued",
        "edc:EuropeanDigitalCredential-cred_issuer",
    }
    issuer = next(v for v in report.violations if v.shape.endswith("cred_issuer"))
    assert [d.path for d in issuer.details] == ["elm:eidasLegalIdentifier"]


def test_an_unknown_remote_context_is_refused_not_fetched() -> None:
    doc = build()
    doc["@context"] = [*doc["@context"], "https://example.org/other-context"]
    with pytest.raises(ConfigurationError, match="will not be fetched"):
        validator.validate(doc, REFERENCE)


def test_built_credential_conforms_and_follows_the_sample_tree() -> None:
    doc = build(achievement(1, 2), achievement(2, 1, pass_rank=2, method="jury"))
    report = validator.validate(doc, REFERENCE)
    assert report.conforms, report.text()
    claims = doc["credentialSubject"]["hasClaim"]
    assert [c["type"] for c in claims] == ["LearningAchievement", "LearningAchievement"]
    first = claims[0]
    assert first["specifiedBy"]["type"] == "LearningAchievementSpecification"
    assert first["specifiedBy"]["learningOutcome"][0]["title"] == {"fr": "Compétence 1"}
    assert first["awardedBy"]["awardingBody"]["legalName"] == {"fr": "Université de Lille"}
    assert first["provenBy"]["grade"]["noteLiteral"] == {"fr": "2 Intermédiaire"}
    scheme = claims[1]["provenBy"]["specifiedBy"]["gradingScheme"]
    assert "acquis à partir de 2" in scheme["description"]["fr"]
    assert doc["issuer"]["registration"]["notation"] == "13002301300017"
    assert doc["issuer"]["eIDASIdentifier"]["notation"] == "NTRFR-13002301300017"
    assert doc["issued"] == doc["issuanceDate"] == "2026-11-23T09:30:00Z"
    assert doc["@context"] == _sample()["@context"]
    assert set(_sample()) - set(doc) == set()  # every top-level part of the sample is there


def test_badge_links_and_framework_uris_conform() -> None:
    badge = credential.BadgeInfo("Compétence 1 — Novice", "https://badges.univ.fr/ob/v2/assertions/x", NOW)
    doc = build(achievement(1, badges=(badge,), competency_uri="https://case.example.org/uri/c1"))
    report = validator.validate(doc, REFERENCE)
    assert report.conforms, report.text()
    claim = doc["credentialSubject"]["hasClaim"][0]
    assert claim["supplementaryDocument"][0]["contentURL"] == badge.url
    assert claim["specifiedBy"]["learningOutcome"][0]["id"] == "https://case.example.org/uri/c1"


@pytest.mark.parametrize(
    ("breakage", "shape"),
    [
        (lambda d: d.pop("issuer"), "edc:EuropeanDigitalCredential-cred_issuer"),
        (lambda d: d["credentialSubject"].pop("hasClaim"), "edc:Person-elm_hasClaim"),
        (lambda d: d.pop("issued"), "edc:EuropeanDigitalCredential-cred_issued"),
        (lambda d: d["issuer"].pop("eIDASIdentifier"), "edc:EuropeanDigitalCredential-cred_issuer"),
        (
            lambda d: d["credentialSubject"]["hasClaim"][0].pop("awardedBy"),
            "edc:LearningAchievement-elm_awardedBy",
        ),
    ],
)
def test_a_broken_credential_is_reported_with_its_failing_shape(breakage: Any, shape: str) -> None:
    doc = copy.deepcopy(build())
    breakage(doc)
    report = validator.validate(doc, REFERENCE)
    assert not report.conforms
    assert shape in report.failing_shapes(), report.text()
    assert shape in report.text()


def test_shacl_validation_is_fast_once_the_shapes_are_parsed() -> None:
    doc = build(*(achievement(i, 1 + i % 3) for i in range(1, 11)))
    validator.validate(doc, REFERENCE)  # parses and caches the shapes
    started = time.perf_counter()
    report = validator.validate(doc, REFERENCE)
    elapsed = time.perf_counter() - started
    assert report.conforms, report.text()
    assert elapsed < 2.0, elapsed


def test_nothing_to_export_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one"):
        credential.build_credential(ISSUER, SUBJECT, [], NOW)


def test_uploadable_wrapper_has_the_sample_shape() -> None:
    with open(ELM / "Sample-CertOfPart-unsigned-uploadable.json", encoding="utf-8") as fh:
        sample = json.load(fh)
    wrapped = credential.uploadable(build())
    assert set(wrapped) == set(sample) == {"credential"}


# --- the seal ---------------------------------------------------------------------------------


def make_seal(
    kind: str = "ec", days: int = 365, org_id: str | None = "NTRFR-13002301300017"
) -> tuple[str, str]:
    key: Any = (
        ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else rsa.generate_private_key(65537, 2048)
    )
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Université de Lille"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Cachet Université de Lille"),
    ]
    if org_id:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, org_id))
    name = x509.Name(attrs)
    # Validity is anchored on the real clock, which the plugin's check reads.
    now = datetime.now(UTC)
    start = now - timedelta(days=1) if days > 0 else now - timedelta(days=30)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert_pem, key_pem


@pytest.mark.parametrize(("kind", "alg"), [("ec", "ES256"), ("rsa", "RS256")])
def test_sealed_credential_verifies_with_its_certificate(kind: str, alg: str) -> None:
    cert_pem, key_pem = make_seal(kind)
    sealer = seal.load_sealer(cert_pem, key_pem)
    doc = build()
    at = datetime.now(UTC).replace(microsecond=0)
    sealed = seal.seal(doc, sealer, at)
    header = json.loads(seal.b64url_decode(sealed["signatures"][0]["protected"]))
    assert header["alg"] == alg
    assert header["b64"] is False and header["crit"] == ["b64", "sigT"]
    assert header["sigT"] == credential.iso(at)
    assert header["typ"] == "jose+json" and len(header["x5c"]) == 1
    assert json.loads(sealed["payload"]) == doc  # enveloping, unencoded: the credential is readable

    verified = seal.verify(json.dumps(sealed), x509.load_pem_x509_certificate(cert_pem.encode()))
    assert verified.credential == doc
    assert verified.algorithm == alg
    assert verified.signed_at == at


def test_tampering_one_byte_of_the_payload_fails_verification() -> None:
    cert_pem, key_pem = make_seal()
    sealed = seal.seal(build(), seal.load_sealer(cert_pem, key_pem), datetime.now(UTC))
    payload = sealed["payload"]
    at = payload.index("Ana Andromeda")
    tampered = {**sealed, "payload": payload[:at] + "B" + payload[at + 1 :]}
    with pytest.raises(seal.SealError, match="altered"):
        seal.verify(tampered)


def test_a_seal_by_another_certificate_is_refused() -> None:
    cert_pem, key_pem = make_seal()
    other_pem, _ = make_seal()
    sealed = seal.seal(build(), seal.load_sealer(cert_pem, key_pem), datetime.now(UTC))
    with pytest.raises(seal.SealError, match="expected certificate"):
        seal.verify(sealed, x509.load_pem_x509_certificate(other_pem.encode()))


def test_a_key_that_does_not_match_the_certificate_is_refused() -> None:
    cert_pem, _ = make_seal()
    _, other_key = make_seal()
    with pytest.raises(seal.SealError, match="does not match"):
        seal.load_sealer(cert_pem, other_key)


def test_the_official_signed_sample_verifies_and_our_kid_matches_its_encoding() -> None:
    """Our signing input and kid are the EDC issuer's: its own seal verifies with our code."""
    with open(ELM / "Sample-CertOfPart-signed.jsonld", encoding="utf-8") as fh:
        sample = json.load(fh)
    verified = seal.verify(sample)
    assert verified.algorithm == "RS256"
    header = json.loads(seal.b64url_decode(sample["signatures"][0]["protected"]))
    assert header["kid"] == base64.b64encode(seal.issuer_serial(verified.certificate)).decode()
    broken = {**sample, "payload": sample["payload"].replace("Andromeda", "Andromedb", 1)}
    with pytest.raises(seal.SealError, match="altered"):
        seal.verify(broken)


# --- the plugin: settings, check, export hook -----------------------------------------------

EST = EstablishmentRef(1, "univ-lille", "Université de Lille", "fr")
LEARNER = LearnerRef(7, "Ana Andromeda", "ana@example.org", {"pegase:ine": "123456789AB"})


def ctx(**settings: Any) -> AdapterContext:
    return AdapterContext(EST, {"legal_identifier": "13002301300017", **settings}, "https://badges.univ.fr")


def test_export_without_seal_is_the_uploadable_form_and_conforms() -> None:
    result = plugin.export_achievements(ctx(), LEARNER, "europass", {"achievements": [achievement()]})
    assert result is not None
    assert result.media_type == "application/json" and result.filename.endswith(".json")
    doc = json.loads(result.content)["credential"]
    assert validator.validate(doc, REFERENCE).conforms
    assert doc["credentialSubject"]["fullName"] == {"fr": "Ana Andromeda"}


def test_export_with_seal_is_sealed_conformant_and_names_the_seal_holder() -> None:
    cert_pem, key_pem = make_seal("rsa", org_id="VATFR-12345678901")
    c = ctx(seal_certificate=cert_pem, seal_key=key_pem)
    result = plugin.export_achievements(c, LEARNER, "europass", {"achievements": [achievement()]})
    assert result is not None and result.media_type == "application/jose+json"
    verified = seal.verify(result.content, x509.load_pem_x509_certificate(cert_pem.encode()))
    assert validator.validate(verified.credential, REFERENCE).conforms
    assert verified.credential["issuer"]["eIDASIdentifier"]["notation"] == "VATFR-12345678901"


def test_other_formats_are_left_to_other_adapters_and_ids_alone_are_refused() -> None:
    assert plugin.export_achievements(ctx(), LEARNER, "clr", {"achievements": [achievement()]}) is None
    with pytest.raises(InvalidInput):
        plugin.export_achievements(ctx(), LEARNER, "europass", {"validations": [1]})


def test_check_reports_certificate_problems() -> None:
    assert plugin.check(ctx()).ok  # unsigned exports are a valid configuration
    assert not plugin.check(AdapterContext(EST, {}, "")).ok
    cert_pem, key_pem = make_seal()
    good = plugin.check(ctx(seal_certificate=cert_pem, seal_key=key_pem))
    assert good.ok and "sealed by" in good.message
    assert not plugin.check(ctx(seal_certificate=cert_pem)).ok  # half a configuration
    _, other_key = make_seal()
    mismatch = plugin.check(ctx(seal_certificate=cert_pem, seal_key=other_key))
    assert not mismatch.ok and "does not match" in mismatch.message
    old_cert, old_key = make_seal(days=-10)
    expired = plugin.check(ctx(seal_certificate=old_cert, seal_key=old_key))
    assert not expired.ok and "expired" in expired.message
