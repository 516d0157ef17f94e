"""Open Badges 3.0: an OpenBadgeCredential per award, signed as a VC-JWT, and its verification.

The credential says what the 2.0 assertion says (same achievement, alignment to the competency
and level, same salted hash of the recipient, so both versions of one award name the same
person the same way) in the 3.0 vocabulary, on the VC Data Model 2.0 that 1EdTech's schema
requires. It is built from the database at request time and signed then: a key rotation or an
edit of the badge class shows at once, as in 2.0 hosted verification.

Revocation: the signed credential carries a ``credentialStatus`` (W3C Bitstring Status List, the
method the VC 2.0 context defines; 1EdTech's own "1EdTechRevocationList" is a term the OB 3.0
context 3.0.3 does not define), because a holder keeps the JWT and presents it elsewhere, long
after fetching it: only a status the verifier looks up can tell that copy is revoked. The list is
itself a credential signed with the same key, so a verifier trusts it as far as the issuer. The
hosted URL also answers 410 Gone once revoked, as the 2.0 assertion does, for who checks by URL.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from acquis.core.models import Award, BadgeClass, Competency, Establishment, Level
from acquis.core.models.base import utcnow
from acquis.plugins.openbadges import documents, keys

CONTEXT = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
]
CLOCK_SKEW_SECONDS = 60
MEDIA_TYPE = "application/vc+jwt"  # VC-JOSE-COSE, for the VC Data Model 2.0
STATUS_TYPE = "BitstringStatusListEntry"
STATUS_PURPOSE = "revocation"
# The specification's minimum length (16 KiB of bits), so that a list says little about how many
# credentials the issuer has; it grows in steps of that size.
STATUS_LIST_BITS = 131072
PREFIX = "/ob/v3"

# 2.0 recipient types and their 3.0 identityType. 3.0's vocabulary has no "url": the 2.0 "url"
# identity is the learner's LMS profile URL, which 3.0 can only call a generic "identifier".
IDENTITY_TYPES = {"email": "emailAddress", "url": "identifier"}


def issuer_url(public_url: str, slug: str) -> str:
    return f"{public_url}{PREFIX}/issuers/{slug}"


def jwks_url(public_url: str, slug: str) -> str:
    return f"{issuer_url(public_url, slug)}/jwks.json"


def status_list_url(public_url: str, slug: str) -> str:
    return f"{issuer_url(public_url, slug)}/status/{STATUS_PURPOSE}"


def credential_url(public_url: str, public_id: str) -> str:
    return f"{public_url}{PREFIX}/credentials/{public_id}"


def achievement_url(public_url: str, badge_public_id: str) -> str:
    return f"{public_url}{PREFIX}/achievements/{badge_public_id}"


def profile(est: Establishment, public_url: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": issuer_url(public_url, est.slug),
        "type": ["Profile"],
        "name": est.name,
        "url": est.website or issuer_url(public_url, est.slug),
    }
    if est.contact_email:
        doc["email"] = est.contact_email
    return doc


def achievement(session: Session, badge: BadgeClass, public_url: str) -> dict[str, Any]:
    """The 2.0 BadgeClass restated: same name, criteria, image and alignment."""
    v2 = documents.badge_class(session, badge, public_url)
    comp = session.get(Competency, badge.competency_id)
    level = session.get(Level, badge.level_id)
    assert comp is not None and level is not None
    est = session.get(Establishment, badge.establishment_id)
    assert est is not None
    return {
        "id": achievement_url(public_url, badge.public_id),
        "type": ["Achievement"],
        "achievementType": "Competency",
        "name": v2["name"],
        "description": v2["description"],
        "criteria": {"id": v2["criteria"]["id"], "narrative": v2["criteria"]["narrative"]},
        "image": {"id": v2["image"], "type": "Image"},
        "alignment": [{"type": ["Alignment"], **a} for a in v2["alignment"]],
        "humanCode": f"{comp.code}#{level.code}",
        "tag": v2["tags"],
        "creator": {"id": issuer_url(public_url, est.slug), "type": ["Profile"]},
    }


def credential(session: Session, award: Award, public_url: str) -> dict[str, Any]:
    """The unsigned OpenBadgeCredential of an award issued by the native issuer."""
    badge = session.get(BadgeClass, award.badge_class_id)
    est = session.get(Establishment, award.establishment_id)
    assert badge is not None and est is not None and award.receipt is not None
    data = award.receipt.get("data", {})
    issuer = profile(est, public_url)
    del issuer["@context"]
    doc: dict[str, Any] = {
        "@context": CONTEXT,
        "id": credential_url(public_url, award.public_id),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": badge.name,
        "issuer": issuer,
        "validFrom": documents._iso(award.issued_at or award.created_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "hashed": True,
                    "identityHash": data["identity"],
                    "identityType": IDENTITY_TYPES[data["recipient_type"]],
                    "salt": data["salt"],
                }
            ],
            "achievement": achievement(session, badge, public_url),
        },
        "credentialStatus": status_entry(public_url, est.slug, award.id),
    }
    if award.expires_at is not None:
        doc["validUntil"] = documents._iso(award.expires_at)
    # The same evidence as the 2.0 assertion: the LMS activities completed, partners' attestations.
    evidence = documents._evidence(session, award)
    if evidence:
        doc["evidence"] = [{"type": ["Evidence"], **item} for item in evidence]
    return doc


def status_entry(public_url: str, slug: str, index: int) -> dict[str, Any]:
    """The award's bit in its establishment's list: the award's row id, unique and never reused."""
    url = status_list_url(public_url, slug)
    return {
        "id": f"{url}#{index}",
        "type": STATUS_TYPE,
        "statusPurpose": STATUS_PURPOSE,
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def encode_bits(revoked: set[int], length: int) -> str:
    """Multibase base64url (no padding) of the GZIP-compressed bitstring, index 0 leftmost."""
    bits = bytearray(length // 8)
    for i in revoked:
        bits[i // 8] |= 0x80 >> (i % 8)
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).rstrip(b"=").decode()


def decode_bits(encoded: str) -> bytes:
    if not encoded.startswith("u"):
        raise VerificationError("the status list is not base64url multibase")
    body = encoded[1:]
    try:
        return gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (OSError, ValueError) as exc:
        raise VerificationError(f"the status list cannot be decoded: {exc}") from exc


def status_list(session: Session, est: Establishment, public_url: str) -> dict[str, Any]:
    """The establishment's revocation list as an unsigned BitstringStatusListCredential."""
    revoked = set(
        session.scalars(
            select(Award.id).where(
                Award.establishment_id == est.id, Award.status == "revoked", Award.emitter == "openbadges"
            )
        )
    )
    highest = session.scalar(select(func.max(Award.id)).where(Award.establishment_id == est.id)) or 0
    length = STATUS_LIST_BITS * (highest // STATUS_LIST_BITS + 1)
    url = status_list_url(public_url, est.slug)
    return {
        "@context": CONTEXT[:1],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_url(public_url, est.slug),
        "validFrom": documents._iso(utcnow().replace(microsecond=0)),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": STATUS_PURPOSE,
            "encodedList": encode_bits(revoked, length),
        },
    }


def sign(doc: Mapping[str, Any], key: rsa.RSAPrivateKey, public_url: str, slug: str) -> str:
    """A VC-JWT: the credential is the payload, with the registered claims OB 3.0 asks for."""
    claims: dict[str, Any] = dict(doc)
    claims["jti"] = doc["id"]
    claims["nbf"] = int(dt.datetime.fromisoformat(doc["validFrom"].replace("Z", "+00:00")).timestamp())
    if "validUntil" in doc:
        claims["exp"] = int(dt.datetime.fromisoformat(doc["validUntil"].replace("Z", "+00:00")).timestamp())
    subject_id = doc["credentialSubject"].get("id")
    if subject_id:
        claims["sub"] = subject_id
    issuer = doc["issuer"]["id"] if isinstance(doc["issuer"], dict) else doc["issuer"]
    claims["iss"] = issuer
    jwk = keys.public_jwk(key)
    headers = {"typ": "vc+jwt", "kid": jwk["kid"], "jku": jwks_url(public_url, slug)}
    return jwt.encode(claims, key, algorithm=keys.ALGORITHM, headers=headers)


class VerificationError(Exception):
    """The credential cannot be trusted; the message says why."""


class RevokedError(VerificationError):
    def __init__(self, where: str) -> None:
        super().__init__(f"the credential was revoked ({where})")


@dataclass(frozen=True)
class Verified:
    credential: dict[str, Any]
    kid: str


Fetch = Callable[[str], str]  # URL -> the status list credential's JWT


def verify(token: str, jwks: Mapping[str, Any], status: Fetch | None = None) -> Verified:
    """Check the signature against the issuer's published keys, the dates, and (given a way to
    fetch it) the revocation status. Raises VerificationError, RevokedError when revoked."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise VerificationError(f"not a JWT: {exc}") from exc
    if header.get("alg") != keys.ALGORITHM:
        raise VerificationError(f"unexpected algorithm {header.get('alg')!r}")
    matches = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
    if len(matches) != 1:
        raise VerificationError(f"no published key with kid {header.get('kid')!r}")
    public = jwt.PyJWK.from_dict(dict(matches[0]), algorithm=keys.ALGORITHM)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public,
            algorithms=[keys.ALGORITHM],
            options={"require": ["iss", "jti", "nbf"], "verify_aud": False},
            # A minute of clock skew between issuer and verifier: the status list is signed
            # at the moment it is served, so a verifier a second behind would refuse it.
            leeway=CLOCK_SKEW_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise VerificationError(f"signature or dates do not verify: {exc}") from exc
    issuer = claims.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if claims["iss"] != issuer_id or claims["jti"] != claims.get("id"):
        raise VerificationError("the JWT claims disagree with the credential they carry")
    if status is not None:
        _check_status(claims, jwks, status)
    return Verified(credential=claims, kid=str(header["kid"]))


def _check_status(claims: Mapping[str, Any], jwks: Mapping[str, Any], fetch: Fetch) -> None:
    entry = claims.get("credentialStatus")
    if not entry:
        return
    if entry.get("type") != STATUS_TYPE or entry.get("statusPurpose") != STATUS_PURPOSE:
        raise VerificationError(
            f"unknown credentialStatus {entry.get('type')!r}/{entry.get('statusPurpose')!r}"
        )
    url = entry["statusListCredential"]
    # The list must be signed by the same issuer's key: a list anyone could serve proves nothing.
    listing = verify(fetch(url), jwks).credential
    subject = listing.get("credentialSubject", {})
    if listing.get("iss") != claims["iss"] or listing.get("id") != url:
        raise VerificationError("the status list is not this issuer's")
    if subject.get("statusPurpose") != STATUS_PURPOSE:
        raise VerificationError("the status list is not a revocation list")
    bits = decode_bits(str(subject.get("encodedList", "")))
    try:
        index = int(entry["statusListIndex"])
    except (KeyError, ValueError) as exc:
        raise VerificationError("credentialStatus has no valid statusListIndex") from exc
    if index < 0 or index // 8 >= len(bits):
        raise VerificationError("statusListIndex is outside the status list")
    if bits[index // 8] & (0x80 >> (index % 8)):
        raise RevokedError(f"bit {index} of {url}")


def verify_url(url: str, get: Callable[[str], Any]) -> Verified:
    """Verify a hosted credential the way an outside verifier would: fetch the JWT, then the key
    set, which must be the one published under the credential's own issuer (a ``jku`` pointing
    anywhere else is refused: whoever controls that URL would choose the key)."""
    response = get(url)
    if response.status_code == 410:
        raise RevokedError(f"{url} answers 410 Gone: {response.json().get('revocationReason', 'revoked')}")
    response.raise_for_status()
    token = response.text.strip()
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise VerificationError(f"not a JWT: {exc}") from exc
    expected = f"{unverified.get('iss')}/jwks.json"
    if header.get("jku") != expected:
        raise VerificationError(f"key set {header.get('jku')!r} is not the issuer's ({expected})")
    return verify(token, get(expected).json(), status=lambda u: str(get(u).text).strip())
