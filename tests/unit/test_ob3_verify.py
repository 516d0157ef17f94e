"""VC-JWT signing and verification of Open Badges 3.0 credentials, without a database."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from acquis.core.errors import ConfigurationError
from acquis.plugins.openbadges import keys, ob3

BASE = "https://acquis.example.fr"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _doc(**extra: Any) -> dict[str, Any]:
    return {
        "@context": ob3.CONTEXT,
        "id": ob3.credential_url(BASE, "a1"),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": {"id": ob3.issuer_url(BASE, "univ-a"), "type": ["Profile"], "name": "Université A"},
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"type": ["AchievementSubject"], "achievement": {"id": f"{BASE}/x"}},
        "credentialStatus": ob3.status_entry(BASE, "univ-a", 42),
        **extra,
    }


def _listing(
    *revoked: int, issuer: str = "univ-a", key: rsa.RSAPrivateKey = KEY, purpose: str = "revocation"
) -> str:
    """A status list credential as the issuer would serve it: a signed VC-JWT."""
    url = ob3.status_list_url(BASE, "univ-a")
    doc = {
        "@context": ob3.CONTEXT[:1],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": ob3.issuer_url(BASE, issuer),
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": ob3.encode_bits(set(revoked), ob3.STATUS_LIST_BITS),
        },
    }
    return ob3.sign(doc, key, BASE, issuer)


def test_round_trip_and_header() -> None:
    token = ob3.sign(_doc(), KEY, BASE, "univ-a")
    header = jwt.get_unverified_header(token)
    assert header == {
        "alg": "RS256",
        "typ": "vc+jwt",
        "kid": keys.public_jwk(KEY)["kid"],
        "jku": ob3.jwks_url(BASE, "univ-a"),
    }
    verified = ob3.verify(token, keys.jwks(KEY), status=lambda _: _listing())
    assert verified.credential["id"] == ob3.credential_url(BASE, "a1")


def test_thumbprint_matches_rfc7638_example() -> None:
    # RFC 7638 section 3.1: the thumbprint of its example RSA key.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    numbers = rsa.RSAPublicNumbers(65537, int.from_bytes(base64.urlsafe_b64decode(n + "=="), "big"))

    class _Key:
        def public_key(self) -> rsa.RSAPublicKey:
            return numbers.public_key()

    assert keys.public_jwk(_Key())["kid"] == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"  # type: ignore[arg-type]


def test_other_key_or_unknown_kid_fails() -> None:
    token = ob3.sign(_doc(), KEY, BASE, "univ-a")
    with pytest.raises(ob3.VerificationError, match="no published key"):
        ob3.verify(token, keys.jwks(OTHER))
    with pytest.raises(ob3.VerificationError, match="no published key"):
        ob3.verify(token, {"keys": []})
    # Signed with another key that claims the published kid: the signature is what decides.
    forged = jwt.encode(
        {**_doc(), "iss": _doc()["issuer"]["id"], "jti": _doc()["id"], "nbf": 0},
        OTHER,
        algorithm="RS256",
        headers={"kid": keys.public_jwk(KEY)["kid"]},
    )
    with pytest.raises(ob3.VerificationError, match="signature"):
        ob3.verify(forged, keys.jwks(KEY))


def test_algorithm_confusion_is_refused() -> None:
    # HS256 keyed with the public key's PEM, the classic confusion attack, and "none".
    pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"kid": keys.public_jwk(KEY)["kid"]}
    claims = {**_doc(), "iss": _doc()["issuer"]["id"], "jti": _doc()["id"], "nbf": 0}
    hs = (
        base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT", **header}).encode()).rstrip(b"=")
        + b"."
        + base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    )
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(pem, hs, hashlib.sha256).digest()).rstrip(b"=")
    with pytest.raises(ob3.VerificationError, match="algorithm"):
        ob3.verify((hs + b"." + sig).decode(), keys.jwks(KEY))
    none = jwt.encode(claims, None, algorithm="none", headers=header)
    with pytest.raises(ob3.VerificationError, match="algorithm"):
        ob3.verify(none, keys.jwks(KEY))


def test_expired_or_not_yet_valid_fails() -> None:
    expired = ob3.sign(_doc(validUntil="2026-01-02T00:00:00Z"), KEY, BASE, "univ-a")
    with pytest.raises(ob3.VerificationError, match="expired"):
        ob3.verify(expired, keys.jwks(KEY))
    future = ob3.sign(_doc(validFrom="2999-01-01T00:00:00Z"), KEY, BASE, "univ-a")
    with pytest.raises(ob3.VerificationError, match="not yet valid"):
        ob3.verify(future, keys.jwks(KEY))


def test_status_list_revocation_and_foreign_list() -> None:
    token = ob3.sign(_doc(), KEY, BASE, "univ-a")
    with pytest.raises(ob3.RevokedError, match="bit 42"):
        ob3.verify(token, keys.jwks(KEY), status=lambda _: _listing(42))
    ob3.verify(token, keys.jwks(KEY), status=lambda _: _listing(41, 43, 0))  # the neighbours only
    with pytest.raises(ob3.VerificationError, match="not this issuer"):
        ob3.verify(token, keys.jwks(KEY), status=lambda _: _listing(issuer="univ-b"))
    with pytest.raises(ob3.VerificationError, match="no published key"):
        ob3.verify(token, keys.jwks(KEY), status=lambda _: _listing(key=OTHER))  # a list anyone signed
    with pytest.raises(ob3.VerificationError, match="not a revocation list"):
        ob3.verify(token, keys.jwks(KEY), status=lambda _: _listing(42, purpose="suspension"))


def test_bitstring_is_leftmost_first_and_gzip_multibase() -> None:
    import gzip

    encoded = ob3.encode_bits({0, 9}, 16)
    assert encoded.startswith("u")
    raw = ob3.decode_bits(encoded)
    assert raw == bytes([0b1000_0000, 0b0100_0000])
    body = encoded[1:]
    assert gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) == raw


class _Response:
    def __init__(self, body: Any, status: int = 200) -> None:
        self.status_code = status
        self._body = body
        self.text = body if isinstance(body, str) else json.dumps(body)

    def json(self) -> Any:
        return self._body if not isinstance(self._body, str) else json.loads(self._body)

    def raise_for_status(self) -> None:
        assert self.status_code < 400


def test_verify_url_refuses_a_key_set_outside_the_issuer() -> None:
    # An attacker re-signs with their own key and points jku at their own key set.
    forged = jwt.encode(
        {**_doc(), "iss": _doc()["issuer"]["id"], "jti": _doc()["id"], "nbf": 0},
        OTHER,
        algorithm="RS256",
        headers={"kid": keys.public_jwk(OTHER)["kid"], "jku": "https://evil.example/jwks.json"},
    )
    pages = {
        "https://evil.example/c": _Response(forged),
        "https://evil.example/jwks.json": _Response(keys.jwks(OTHER)),
    }
    with pytest.raises(ob3.VerificationError, match="not the issuer's"):
        ob3.verify_url("https://evil.example/c", pages.__getitem__)


def test_only_rsa_keys_of_2048_bits_are_accepted() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    with pytest.raises(ConfigurationError, match="RSA"):
        keys.load_pem(ec_pem)
    good = KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    assert keys.public_jwk(keys.load_pem(good)) == keys.public_jwk(KEY)
