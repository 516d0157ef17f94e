"""Hook implementations of the Europass exporter (entry point ``europass``).

``export_achievements`` receives what the student chose as ``selection["achievements"]``:
frozen :class:`~acquis.plugins.europass.credential.Achievement` snapshots that the caller read
with :func:`~acquis.plugins.europass.credential.load_achievements` (which refuses anything that
is not the learner's and validated). The hook gets no database session, so ids alone cannot be
resolved here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from acquis.core.errors import ConfigurationError, InvalidInput
from acquis.core.events import (
    AdapterContext,
    AdapterSpec,
    CheckResult,
    ExportResult,
    LearnerRef,
    SettingField,
)
from acquis.core.hookspecs import hookimpl
from acquis.core.models import Establishment
from acquis.plugins.europass import credential, seal

NAME = "europass"
FORMAT = "europass"
SCHEMES = ("SIRET", "SIREN", "UAI", "RNE")
SEALED_MEDIA_TYPE = "application/jose+json"
UPLOADABLE_MEDIA_TYPE = "application/json"

SETTINGS = (
    SettingField(
        "legal_identifier",
        "Legal identifier of the establishment (SIRET, UAI…)",
        required=True,
        help="written as the issuer's registration in every credential",
    ),
    SettingField(
        "identifier_scheme", "Kind of legal identifier", kind="choice", default="SIRET", choices=SCHEMES
    ),
    SettingField("legal_name", "Legal name", help="empty: the establishment's name"),
    SettingField(
        "eidas_identifier",
        "eIDAS legal identifier",
        help="empty: the seal certificate's organizationIdentifier, else NTRFR-<SIRET/SIREN>",
    ),
    SettingField("country", "Country (EU authority code)", default="FRA"),
    SettingField("homepage", "Home page", kind="url"),
    SettingField("contact_email", "Contact email"),
    SettingField(
        "seal_certificate",
        "Electronic seal certificate (PEM, chain after it)",
        kind="pem",
        help="with the key, exports are sealed (JAdES); without, they are the unsigned uploadable form",
    ),
    SettingField("seal_key", "Electronic seal private key (PEM)", kind="pem"),
)


def _get(settings: Mapping[str, Any], name: str) -> str:
    value = settings.get(name)
    if value in (None, ""):
        f = next(f for f in SETTINGS if f.name == name)
        value = f.default
    return "" if value is None else str(value).strip()


def sealer(settings: Mapping[str, Any]) -> seal.Sealer | None:
    """The establishment's seal, or None when it exports unsigned; half a configuration is an error."""
    cert, key = _get(settings, "seal_certificate"), _get(settings, "seal_key")
    if not cert and not key:
        return None
    if not cert or not key:
        raise ConfigurationError("set both seal_certificate and seal_key, or neither (unsigned exports)")
    return seal.load_sealer(cert, key)


def _organization_identifier(certificate: x509.Certificate) -> str | None:
    attrs = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    return str(attrs[0].value) if attrs else None


def issuer_info(ctx: AdapterContext, sealed_by: seal.Sealer | None) -> credential.IssuerInfo:
    legal = _get(ctx.settings, "legal_identifier")
    if not legal:
        raise ConfigurationError(
            f"set legal_identifier: acquis adapter set {ctx.establishment.slug} {NAME} …"
        )
    scheme = _get(ctx.settings, "identifier_scheme")
    eidas = _get(ctx.settings, "eidas_identifier")
    if not eidas and sealed_by is not None:
        eidas = _organization_identifier(sealed_by.certificate) or ""
    if not eidas:
        # ETSI EN 319 412-1 semantics: NTR (national trade register) + country + "-" + number.
        eidas = f"NTRFR-{legal}" if scheme in ("SIRET", "SIREN") else legal
    return credential.IssuerInfo(
        name=_get(ctx.settings, "legal_name") or ctx.establishment.name,
        legal_identifier=legal,
        identifier_scheme=scheme,
        eidas_identifier=eidas,
        country=_get(ctx.settings, "country") or "FRA",
        homepage=_get(ctx.settings, "homepage") or None,
        email=_get(ctx.settings, "contact_email") or None,
    )


def subject_info(learner: LearnerRef) -> credential.SubjectInfo:
    return credential.SubjectInfo(
        full_name=learner.display_name or f"#{learner.id}",
        email=learner.email,
        identifiers=dict(learner.identifiers),
    )


def export(
    ctx: AdapterContext,
    learner: LearnerRef,
    achievements: list[credential.Achievement],
    now: datetime | None = None,
) -> ExportResult:
    """The credential as a file: sealed when the establishment has a seal, else uploadable."""
    at = now or datetime.now(UTC)
    sealed_by = sealer(ctx.settings)
    doc = credential.build_credential(
        issuer_info(ctx, sealed_by), subject_info(learner), achievements, at, ctx.establishment.locale
    )
    stem = f"europass-{ctx.establishment.slug}-{learner.id}-{at:%Y%m%d%H%M%S}"
    if sealed_by is None:
        body = seal.payload_text(credential.uploadable(doc))
        return ExportResult(f"{stem}.json", UPLOADABLE_MEDIA_TYPE, body.encode("utf-8"))
    sealed = seal.seal(doc, sealed_by, at)
    text = seal.payload_text(sealed)
    return ExportResult(f"{stem}.jsonld", SEALED_MEDIA_TYPE, text.encode("utf-8"))


def check(ctx: AdapterContext) -> CheckResult:
    if not _get(ctx.settings, "legal_identifier"):
        return CheckResult(False, "set legal_identifier (the establishment's SIRET or UAI)")
    try:
        sealed_by = sealer(ctx.settings)
    except (ConfigurationError, seal.SealError) as exc:
        return CheckResult(False, str(exc))
    if sealed_by is None:
        return CheckResult(
            True, "no seal configured: exports are unsigned, for upload to the Europass wallet"
        )
    cert = sealed_by.certificate
    now = datetime.now(UTC)
    details = {
        "subject": cert.subject.rfc4514_string(),
        "not_before": credential.iso(cert.not_valid_before_utc),
        "not_after": credential.iso(cert.not_valid_after_utc),
        "algorithm": seal.algorithm(sealed_by.key),
    }
    if now < cert.not_valid_before_utc:
        return CheckResult(
            False, f"the seal certificate is not valid before {details['not_before']}", details
        )
    if now > cert.not_valid_after_utc:
        return CheckResult(False, f"the seal certificate expired on {details['not_after']}", details)
    return CheckResult(True, f"exports are sealed by {details['subject']}", details)


@hookimpl
def adapter_spec() -> AdapterSpec:
    return AdapterSpec(
        name=NAME,
        title="Europass (European Digital Credentials)",
        description=(
            "Exports a student's chosen validations and badges as a European Digital Credential "
            "(European Learning Model v3), sealed with the establishment's certificate when one is set."
        ),
        settings=SETTINGS,
        check=check,
    )


@hookimpl
def export_achievements(
    ctx: AdapterContext, learner: LearnerRef, format: str, selection: dict[str, Any]
) -> ExportResult | None:
    if format != FORMAT:
        return None
    chosen = selection.get("achievements")
    if (
        chosen is None
        and ctx.session is not None
        and ("validation_ids" in selection or "award_ids" in selection)
    ):
        est = ctx.session.get(Establishment, ctx.establishment.id)
        chosen = credential.load_achievements(
            ctx.session,
            est,
            learner.id,
            [int(i) for i in selection.get("validation_ids", ())],
            [int(i) for i in selection.get("award_ids", ())],
            ctx.public_url,
        )
    if chosen is None:
        raise InvalidInput(
            "pass the chosen achievements as loaded by acquis.plugins.europass.credential.load_achievements",
            field="selection.achievements",
        )
    achievements = list(chosen)
    if not all(isinstance(a, credential.Achievement) for a in achievements):
        raise InvalidInput("expected Achievement snapshots", field="selection.achievements")
    return export(ctx, learner, achievements)
