"""The tool's RSA key pairs: creation, rotation and the public key set (JWKS)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core.models import LtiToolKey, utcnow


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    public_pem: str


def _new_key() -> LtiToolKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    jwk: dict[str, Any] = json.loads(JWK.from_pem(public_pem.encode()).export_public())
    # The RFC 7638 thumbprint as kid: the same value PyLTI1p3 derives from the public key when it
    # signs (deep linking responses, service tokens), so the header always matches the JWKS.
    kid = JWK.from_pem(public_pem.encode()).thumbprint()
    jwk.update(kid=kid, alg="RS256", use="sig")
    return LtiToolKey(
        kid=kid, status="current", public_jwk=jwk, private={"pem": private_pem, "public_pem": public_pem}
    )


def current(session: Session) -> SigningKey:
    """The key the tool signs with, created on first use (a fresh install needs no setup step)."""
    key = session.scalar(select(LtiToolKey).where(LtiToolKey.status == "current").order_by(LtiToolKey.id))
    if key is None:
        key = _new_key()
        session.add(key)
        session.flush()
    return SigningKey(kid=key.kid, private_pem=key.private["pem"], public_pem=key.private["public_pem"])


def rotate(session: Session) -> tuple[str, str | None]:
    """Make a new current key; the old one stays published as "previous" until the next rotation.

    Returns (new kid, previous kid). Keys two rotations old are retired: by then every platform
    has had a full rotation period to refresh its cached copy of the key set.
    """
    for old in session.scalars(select(LtiToolKey).where(LtiToolKey.status == "previous")):
        old.status = "retired"
        old.retired_at = utcnow()
    previous = session.scalars(select(LtiToolKey).where(LtiToolKey.status == "current")).all()
    for key in previous:
        key.status = "previous"
    session.flush()
    new = _new_key()
    session.add(new)
    session.flush()
    return new.kid, (previous[-1].kid if previous else None)


def jwks(session: Session) -> dict[str, list[dict[str, Any]]]:
    """The public key set: the current key first, then the previous one during a rotation."""
    current(session)
    rows = session.scalars(
        select(LtiToolKey)
        .where(LtiToolKey.status.in_(("current", "previous")))
        .order_by(LtiToolKey.id.desc())
    ).all()
    ordered = sorted(rows, key=lambda k: 0 if k.status == "current" else 1)
    return {"keys": [dict(k.public_jwk) for k in ordered]}
