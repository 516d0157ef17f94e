"""A learner's chosen validations and badges as a European Digital Credential (ELM v3, JSON-LD).

The document follows the official sample ``Sample-CertOfPart-unsigned.jsonld`` of the European
Learning Model: EuropeanDigitalCredential → credentialSubject (Person) → hasClaim
(LearningAchievement) → specifiedBy (LearningAchievementSpecification with its learning
outcome), awardedBy (AwardingProcess with the awarding body) and provenBy (LearningAssessment,
its grade and the framework's scale as grading scheme). Like the sample, every node is written
out in full where it is used (the same ``id`` may appear several times), because EDC viewers
read the JSON as a tree rather than as a graph.

``build_credential`` is a pure function of frozen inputs so it can be tested and SHACL-checked
without a database; ``load_achievements`` reads those inputs from the database for one learner,
refusing anything the learner did not earn: nothing leaves without the student's own choice.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.errors import InvalidInput, NotFound
from acquis.core.models import (
    Award,
    BadgeClass,
    Competency,
    Establishment,
    Framework,
    Learner,
    LearnerIdentifier,
    Level,
    Validation,
)
from acquis.plugins.openbadges import urls as ob_urls

W3C_CONTEXT = "https://www.w3.org/2018/credentials/v1"
EDC_CONTEXT = "http://data.europa.eu/snb/model/context/edc-ap"
CONTEXTS = [W3C_CONTEXT, EDC_CONTEXT]
SCHEMA = "http://data.europa.eu/snb/model/ap/edc-generic-full"

AUTHORITY = "http://publications.europa.eu/resource/authority"
# EU Vocabularies language table: locale of the establishment → (code, English label).
LANGUAGES = {"fr": ("FRA", "French"), "en": ("ENG", "English")}

# What a validation's method says about how the level was assessed, for the assessment title.
METHODS = {
    "rule": {"fr": "Activités du cours réalisées", "en": "Course activities completed"},
    "jury": {"fr": "Décision du jury", "en": "Jury decision"},
    "partner": {"fr": "Attestation d'un partenaire", "en": "Partner attestation"},
    "facets": {"fr": "Toutes les composantes validées", "en": "All facets validated"},
}


@dataclass(frozen=True)
class IssuerInfo:
    """The establishment as issuer and awarding body, with its legal identifiers.

    ``legal_identifier`` is the national registration (SIRET, UAI…) named by ``identifier_scheme``;
    ``eidas_identifier`` is the identifier of the legal person as eIDAS seals carry it
    (ETSI EN 319 412-1 ``organizationIdentifier``, e.g. ``NTRFR-19593560000018``), which the EDC
    shapes require of every issuer.
    """

    name: str
    legal_identifier: str
    identifier_scheme: str
    eidas_identifier: str
    country: str = "FRA"  # EU country authority code (ISO 3166-1 alpha-3)
    homepage: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class SubjectInfo:
    """The learner as the credential names them."""

    full_name: str
    email: str | None = None
    identifiers: Mapping[str, str] = field(default_factory=dict)  # system → value


@dataclass(frozen=True)
class ScaleLevel:
    rank: int
    code: str
    label: str


@dataclass(frozen=True)
class BadgeInfo:
    """An issued Open Badge resting on the validation, linked from the achievement."""

    name: str
    url: str | None
    issued_at: datetime | None


@dataclass(frozen=True)
class Achievement:
    """One validated competency level, with what the credential needs to say about it."""

    validation_id: int
    framework_code: str
    framework_title: str
    competency_code: str
    competency_title: str
    competency_description: str
    level: ScaleLevel
    scale: tuple[ScaleLevel, ...]
    pass_rank: int | None
    method: str
    validated_at: datetime
    competency_uri: str | None = None
    badges: tuple[BadgeInfo, ...] = ()


def iso(dt: datetime) -> str:
    """xsd:dateTime in UTC with a Z, as the sample writes dates."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _concept(
    ident: str, scheme: str, label: str, notation: str | None = None, lang: str = "en"
) -> dict[str, Any]:
    node: dict[str, Any] = {
        "id": ident,
        "type": "Concept",
        "inScheme": {"id": scheme, "type": "ConceptScheme"},
    }
    if notation is not None:
        node["notation"] = notation
    node["prefLabel"] = {lang: label}
    return node


def language_concept(locale: str) -> dict[str, Any]:
    code, label = LANGUAGES.get(locale, LANGUAGES["en"])
    return _concept(f"{AUTHORITY}/language/{code}", f"{AUTHORITY}/language", label, "language")


# English labels of the EU country table for the establishments we expect; others show their code.
COUNTRIES = {"FRA": "France", "BEL": "Belgium", "CHE": "Switzerland", "LUX": "Luxembourg", "MCO": "Monaco"}


def country_concept(code: str) -> dict[str, Any]:
    label = COUNTRIES.get(code, code)
    return _concept(f"{AUTHORITY}/country/{code}", f"{AUTHORITY}/country", label, "country")


def _is_iri(value: str | None) -> bool:
    return bool(value) and str(value).startswith(("http://", "https://", "urn:"))


class _Ids:
    """Local node ids (``urn:epass:<kind>:<n>``) numbered per kind, as in the official sample."""

    def __init__(self, reserved: Mapping[str, int] | None = None) -> None:
        self._next: dict[str, int] = dict(reserved or {})

    def __call__(self, kind: str) -> str:
        n = self._next.get(kind, 0) + 1
        self._next[kind] = n
        return f"urn:epass:{kind}:{n}"


def _organisation(issuer: IssuerInfo, lang: str) -> dict[str, Any]:
    """The establishment, written the same way wherever it appears (issuer, awarding body)."""
    country = country_concept(issuer.country)
    org: dict[str, Any] = {
        "id": "urn:epass:org:1",
        "type": "Organisation",
        "eIDASIdentifier": {
            "id": "urn:epass:legalIdentifier:1",
            "type": "LegalIdentifier",
            "spatial": country,
            "notation": issuer.eidas_identifier,
        },
        "location": {
            "id": "urn:epass:location:1",
            "type": "Location",
            "address": {"id": "urn:epass:address:1", "type": "Address", "countryCode": country},
        },
        "legalName": {lang: issuer.name},
        "registration": {
            "id": "urn:epass:legalIdentifier:2",
            "type": "LegalIdentifier",
            "spatial": country,
            "notation": issuer.legal_identifier,
            "schemeName": issuer.identifier_scheme,
        },
    }
    if issuer.email:
        org["contactPoint"] = {
            "id": "urn:epass:contactPoint:1",
            "type": "ContactPoint",
            "emailAddress": {"id": f"mailto:{issuer.email}", "type": "Mailbox"},
        }
    if issuer.homepage:
        org["homepage"] = {
            "id": "urn:epass:webResource:1",
            "type": "WebResource",
            "contentURL": issuer.homepage,
        }
    return org


def _scale_text(achievement: Achievement, lang: str) -> str:
    steps = ", ".join(f"{lv.rank} {lv.label}" for lv in achievement.scale)
    if achievement.pass_rank is None:
        tail = {"fr": "niveaux progressifs", "en": "progressive levels"}
    else:
        tail = {
            "fr": f"acquis à partir de {achievement.pass_rank}",
            "en": f"passed from {achievement.pass_rank}",
        }
    return f"{steps} ({tail.get(lang, tail['en'])})"


def _achievement(
    a: Achievement, ids: _Ids, org: dict[str, Any], language: dict[str, Any], lang: str
) -> dict[str, Any]:
    title = f"{a.competency_title} — {a.level.label}"
    outcome: dict[str, Any] = {
        # A framework's own URI (CASE) names the outcome across credentials; ours are local.
        "id": a.competency_uri if _is_iri(a.competency_uri) else ids("learningOutcome"),
        "type": "LearningOutcome",
        "title": {lang: a.competency_title},
    }
    if a.competency_description:
        outcome["additionalNote"] = [
            {"id": ids("note"), "type": "Note", "noteLiteral": {lang: a.competency_description}}
        ]
    grading_scheme = {
        "id": ids("gradingScheme"),
        "type": "GradingScheme",
        "title": {lang: a.framework_title},
        "description": {lang: _scale_text(a, lang)},
    }
    assessment: dict[str, Any] = {
        "id": ids("learningAssessment"),
        "type": "LearningAssessment",
        "title": {lang: METHODS.get(a.method, METHODS["rule"]).get(lang, a.method)},
        "grade": {
            "id": ids("note"),
            "type": "Note",
            "noteLiteral": {lang: f"{a.level.rank} {a.level.label}"},
        },
        "assessedBy": org,
        "awardedBy": {
            "id": ids("awardingProcess"),
            "type": "AwardingProcess",
            "awardingBody": org,
            "awardingDate": iso(a.validated_at),
        },
        "dateIssued": iso(a.validated_at),
        "specifiedBy": {
            "id": ids("learningAssessmentSpec"),
            "type": "LearningAssessmentSpecification",
            "title": {lang: a.framework_title},
            "gradingScheme": grading_scheme,
            "language": language,
        },
    }
    node: dict[str, Any] = {
        "id": ids("learningAchievement"),
        "type": "LearningAchievement",
        "awardedBy": {
            "id": ids("awardingProcess"),
            "type": "AwardingProcess",
            "awardingBody": org,
            "awardingDate": iso(a.validated_at),
        },
        "provenBy": assessment,
        "specifiedBy": {
            "id": ids("learningAchievementSpec"),
            "type": "LearningAchievementSpecification",
            "title": {lang: title},
            "learningOutcome": [outcome],
            "language": language,
            "identifier": {
                "id": ids("identifier"),
                "type": "Identifier",
                "schemeName": a.framework_code,
                "notation": f"{a.competency_code}#{a.level.code}",
            },
        },
        "title": {lang: title},
        "identifier": {
            "id": ids("identifier"),
            "type": "Identifier",
            "schemeName": "acquis validation",
            "notation": str(a.validation_id),
        },
    }
    documents = [
        {
            "id": ids("webResource"),
            "type": "WebResource",
            "contentURL": badge.url,
            "title": {lang: badge.name},
        }
        for badge in a.badges
        if badge.url
    ]
    if documents:
        node["supplementaryDocument"] = documents
    return node


def _subject(subject: SubjectInfo, lang: str, claims: list[dict[str, Any]]) -> dict[str, Any]:
    person: dict[str, Any] = {"id": "urn:epass:person:1", "type": "Person"}
    if subject.email:
        person["contactPoint"] = {
            "id": "urn:epass:contactPoint:2",
            "type": "ContactPoint",
            "emailAddress": {"id": f"mailto:{subject.email}", "type": "Mailbox"},
        }
    person["hasClaim"] = claims
    idents = [
        {
            "id": f"urn:epass:identifier:person:{n}",
            "type": "Identifier",
            "schemeName": system,
            "notation": value,
        }
        for n, (system, value) in enumerate(sorted(subject.identifiers.items()), start=1)
    ]
    if idents:
        person["identifier"] = idents
    person["fullName"] = {lang: subject.full_name}
    return person


def display_image(title: str, subject: str, issuer: str, lines: Sequence[str]) -> bytes:
    """A one-page SVG rendering of the credential, which EDC viewers show as its face."""
    rows = "".join(
        f'<text x="60" y="{300 + 36 * i}" font-size="20">{escape(line)}</text>'
        for i, line in enumerate(lines[:20])
    )
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="794" height="1123" viewBox="0 0 794 1123" '
        'font-family="sans-serif">'
        '<rect width="794" height="1123" fill="#fff"/>'
        f'<text x="60" y="120" font-size="34" font-weight="bold">{escape(title)}</text>'
        f'<text x="60" y="180" font-size="26">{escape(subject)}</text>'
        f'<text x="60" y="230" font-size="18" fill="#555">{escape(issuer)}</text>'
        f"{rows}</svg>"
    )
    return svg.encode("utf-8")


def build_credential(
    issuer: IssuerInfo,
    subject: SubjectInfo,
    achievements: Sequence[Achievement],
    issued_at: datetime,
    locale: str = "fr",
    credential_id: str | None = None,
) -> dict[str, Any]:
    """The unsigned credential (a JSON-LD dict) claiming each of ``achievements``.

    ``issued`` and ``issuanceDate`` are set here, not at sealing: the EDC shapes require
    ``cred:issued`` of every credential, and the unsigned "uploadable" form must conform too.
    """
    if not achievements:
        raise InvalidInput("choose at least one validation or badge to export", field="selection")
    lang = locale if locale in LANGUAGES else "en"
    language = language_concept(lang)
    # The organisation and the person use fixed ids (they are repeated wherever they appear).
    ids = _Ids({"webResource": 1, "contactPoint": 2, "legalIdentifier": 2})
    org = _organisation(issuer, lang)
    claims = [_achievement(a, ids, org, language, lang) for a in achievements]
    title = {"fr": "Compétences validées", "en": "Validated competencies"}[lang]
    summary = [f"{a.competency_title} — {a.level.label} ({a.validated_at:%Y-%m-%d})" for a in achievements]
    image = display_image(title, subject.full_name, issuer.name, summary)
    when = iso(issued_at)
    return {
        "id": credential_id or f"urn:credential:{uuid.uuid4()}",
        "type": ["VerifiableCredential", "EuropeanDigitalCredential"],
        "credentialProfiles": _concept(
            "http://data.europa.eu/snb/credential/e34929035b",
            "http://data.europa.eu/snb/credential/25831c2",
            "Generic",
        ),
        "displayParameter": {
            "id": "urn:epass:displayParameter:1",
            "type": "DisplayParameter",
            "individualDisplay": {
                "id": "urn:epass:individualDisplay:1",
                "type": "IndividualDisplay",
                "displayDetail": {
                    "id": "urn:epass:displayDetail:1",
                    "type": "DisplayDetail",
                    "image": {
                        "id": "urn:epass:mediaObject:1",
                        "type": "MediaObject",
                        "content": base64.b64encode(image).decode("ascii"),
                        "contentEncoding": _concept(
                            "http://data.europa.eu/snb/encoding/6146cde7dd",
                            "http://data.europa.eu/snb/encoding/25831c2",
                            "base64",
                        ),
                        "contentType": _concept(
                            f"{AUTHORITY}/file-type/SVG", f"{AUTHORITY}/file-type", "SVG", "file-type"
                        ),
                    },
                    "page": 1,
                },
                "language": language,
            },
            "primaryLanguage": language,
            "description": {lang: f"{subject.full_name} — {issuer.name}"},
            "language": language,
            "title": {lang: title},
        },
        "credentialSchema": {"id": SCHEMA, "type": "ShaclValidator2017"},
        "credentialSubject": _subject(subject, lang, claims),
        "issuanceDate": when,
        "issued": when,
        "issuer": org,
        "validFrom": when,
        "@context": list(CONTEXTS),
    }


def uploadable(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The unsigned wrapper the Europass wallet accepts for upload (sealed on its side)."""
    return {"credential": dict(credential)}


# --- Reading the inputs from the database -------------------------------------------------


def _scale(framework: Framework, levels: Sequence[Level]) -> tuple[ScaleLevel, ...]:
    if levels:
        return tuple(ScaleLevel(lv.rank, lv.code, lv.label) for lv in levels)
    return tuple(ScaleLevel(int(s["rank"]), str(s["code"]), str(s["label"])) for s in framework.scale)


def load_achievements(
    session: Session,
    est: Establishment,
    learner_id: int,
    validation_ids: Sequence[int] = (),
    award_ids: Sequence[int] = (),
    public_url: str = "",
) -> list[Achievement]:
    """The achievements the learner chose: validations by id, and badges (awards) by id.

    A badge brings in the validation it rests on. Anything that is not this learner's, not in
    this establishment, not ``validated`` (or, for a badge, not ``issued``) is refused with its
    id rather than silently dropped: the student must know what their credential says.
    """
    learner = session.get(Learner, learner_id)
    if learner is None or learner.establishment_id != est.id:
        raise NotFound(f"no learner {learner_id} in {est.slug}")
    wanted: list[int] = []
    badges: dict[int, list[BadgeInfo]] = {}
    for award_id in award_ids:
        award = session.get(Award, award_id)
        if award is None or award.learner_id != learner_id or award.establishment_id != est.id:
            raise NotFound(f"no badge {award_id} for learner {learner_id}")
        if award.status != "issued":
            raise InvalidInput(f"badge {award_id} is {award.status}, not issued", field="awards")
        badge_class = session.get(BadgeClass, award.badge_class_id)
        assert badge_class is not None
        # The emitter's receipt has the badge's public URL (OBF or the native issuer); an award
        # issued natively before receipts carried one still has its stable assertion URL.
        url = (award.receipt or {}).get("url") or (
            ob_urls.assertion(public_url, award.public_id)
            if public_url and award.emitter == "openbadges"
            else None
        )
        badges.setdefault(award.validation_id, []).append(BadgeInfo(badge_class.name, url, award.issued_at))
        if award.validation_id not in wanted:
            wanted.append(award.validation_id)
    for vid in validation_ids:
        if vid not in wanted:
            wanted.append(vid)
    out: list[Achievement] = []
    for vid in wanted:
        v = session.get(Validation, vid)
        if v is None or v.learner_id != learner_id or v.establishment_id != est.id:
            raise NotFound(f"no validation {vid} for learner {learner_id}")
        if v.status != "validated":
            raise InvalidInput(f"validation {vid} is {v.status}, not validated", field="validations")
        comp = session.get(Competency, v.competency_id)
        level = session.get(Level, v.level_id)
        assert comp is not None and level is not None
        framework = session.get(Framework, comp.framework_id)
        assert framework is not None
        levels = session.scalars(
            select(Level).where(Level.competency_id == comp.id).order_by(Level.rank)
        ).all()
        out.append(
            Achievement(
                validation_id=v.id,
                framework_code=framework.code,
                framework_title=framework.title,
                competency_code=comp.code,
                competency_title=comp.title,
                competency_description=comp.description or "",
                level=ScaleLevel(level.rank, level.code, level.label),
                scale=_scale(framework, levels),
                pass_rank=framework.pass_rank,
                method=v.method,
                validated_at=v.decided_at or v.created_at,
                competency_uri=comp.uri,
                badges=tuple(badges.get(v.id, ())),
            )
        )
    return out


def load_subject(session: Session, learner_id: int) -> SubjectInfo:
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"no learner {learner_id}")
    rows = session.execute(
        select(LearnerIdentifier.system, LearnerIdentifier.value).where(
            LearnerIdentifier.learner_id == learner_id
        )
    )
    return SubjectInfo(
        full_name=learner.display_name or f"#{learner.id}",
        email=learner.email,
        identifiers={system: value for system, value in rows},
    )
