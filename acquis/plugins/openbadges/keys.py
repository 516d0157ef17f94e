"""The establishment's signing key for Open Badges 3.0 credentials (VC-JWT, RS256).

Where the key lives: in this adapter's own secrets (``AdapterConfig.secrets``, a setting of kind
``pem``), encrypted at rest with the instance's Fernet keys like every other adapter secret.
Not a file under the instance folder, because in scaled mode the web processes that publish the
JWKS and the workers that issue run on different hosts and share only the database; a file would
give each host its own key and credentials that do not verify against the published one. Being a
declared setting, an establishment may also import its own key (``acquis adapter set``).

RS256 because Open Badges 3.0 makes it the algorithm every verifier must support.

Rotation: the setting holds PEM blocks newest first. The first signs; all are published in the
JWKS, because holders keep JWTs signed with the retired keys and these must keep verifying.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from acquis.core import adapters
from acquis.core.errors import ConfigurationError
from acquis.core.models import AdapterConfig, Establishment
from acquis.core.plugins import PluginHost

SETTING = "ob3_signing_key"
ALGORITHM = "RS256"
KEY_BITS = 2048


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey) -> dict[str, str]:
    """The public half as a JWK, its ``kid`` the RFC 7638 thumbprint (stable, derived, unforgeable)."""
    numbers = key.public_key().public_numbers()
    members = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def jwks(*ring: rsa.RSAPrivateKey) -> dict[str, Any]:
    return {"keys": [public_jwk(k) for k in ring]}


def load_ring(bundle: str) -> list[rsa.RSAPrivateKey]:
    """Every key of a bundle of PEM blocks, in order (newest first)."""
    blocks = ["-----BEGIN" + b for b in bundle.split("-----BEGIN")[1:]]
    if not blocks:
        raise ConfigurationError(f"{SETTING} holds no PEM block")
    return [load_pem(b) for b in blocks]


def load_pem(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < KEY_BITS:
        raise ConfigurationError(f"{SETTING} must be an RSA private key of at least {KEY_BITS} bits (RS256)")
    return key


def _new_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _stored(session: Session, est: Establishment) -> str | None:
    from acquis.plugins.openbadges.plugin import NAME

    cfg = session.scalar(
        select(AdapterConfig)
        .where(AdapterConfig.establishment_id == est.id, AdapterConfig.adapter == NAME)
        .with_for_update()
    )
    pem = (cfg.secrets or {}).get(SETTING) if cfg is not None else None
    return str(pem) if pem else None


def _store(session: Session, host: PluginHost, est: Establishment, bundle: str) -> None:
    from acquis.plugins.openbadges.plugin import NAME

    adapters.update_settings(session, host, est, NAME, {SETTING: bundle})
    session.flush()


def ring(session: Session, host: PluginHost, est: Establishment) -> list[rsa.RSAPrivateKey]:
    """The establishment's keys, newest first, one generated and stored on first use.

    The adapter's row is locked first (FOR UPDATE on PostgreSQL; SQLite transactions already
    hold the write lock) so that two first uses at once, say the JWKS page and a worker, cannot
    each store a key and leave credentials signed by one that was overwritten.
    """
    bundle = _stored(session, est)
    if bundle is None:
        bundle = _new_pem()
        _store(session, host, est, bundle)
    return load_ring(bundle)


def signing_key(session: Session, host: PluginHost, est: Establishment) -> rsa.RSAPrivateKey:
    return ring(session, host, est)[0]


def rotate(session: Session, host: PluginHost, est: Establishment, keep: int = 3) -> rsa.RSAPrivateKey:
    """Sign with a new key from now on; the ``keep`` newest retired ones stay published."""
    retired = _stored(session, est) or ""
    blocks = ["-----BEGIN" + b for b in retired.split("-----BEGIN")[1:]][:keep]
    new = _new_pem()
    _store(session, host, est, "".join([new, *blocks]))
    return load_pem(new)
