"""JAdES electronic seals on credentials, as the EDC issuer produces them, and their verification.

The shape is the one of ``Sample-CertOfPart-signed.jsonld``: an *enveloping* JWS in the JSON
serialization whose ``payload`` is the credential's JSON text left unencoded (RFC 7797,
``b64: false``, so the credential stays readable in the file), and a protected header with
``alg``, ``kid`` (the certificate's issuer and serial, DER ``IssuerSerial`` in base64 as JAdES
wants it), ``x5t#S256``, ``x5c``, ``typ``, ``cty``, ``sigT`` (the claimed signing time) and
``crit: ["b64", "sigT"]``.

This is a JAdES baseline B-B seal: the sample also carries a timestamp (``adoTst``) and
revocation values in an unprotected ``etsiU`` header (B-LTA), which need a timestamping
authority and OCSP/CRL access we do not have here.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from acquis.core.errors import AcquisError
from acquis.plugins.europass.credential import iso

TYP = "jose+json"
CTY = "octet-stream"
# Critical header parameters a verifier must understand. ``adoTst`` (a timestamp of the
# signed data, in the official sample) is accepted so that EDC seals verify, but its token is
# not checked.
CRIT = ("b64", "sigT")
UNDERSTOOD = {"b64", "sigT", "adoTst"}
CURVES = {"secp256r1": ("ES256", hashes.SHA256(), 32), "secp384r1": ("ES384", hashes.SHA384(), 48)}

SealKeyType = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SealError(AcquisError):
    """A seal that cannot be made or does not verify; the message says which check failed."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Sealer:
    """The establishment's seal: its certificate (and chain) and the matching private key."""

    certificate: x509.Certificate
    key: SealKeyType
    chain: tuple[x509.Certificate, ...] = ()


def load_sealer(certificate_pem: str, key_pem: str) -> Sealer:
    """Read PEM settings; the first certificate is the seal's, any others its chain."""
    try:
        certs = x509.load_pem_x509_certificates(certificate_pem.encode())
    except ValueError as exc:
        raise SealError(f"the seal certificate is not a PEM certificate: {exc}") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SealError(f"the seal key is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SealError(f"a seal key must be RSA or EC (P-256, P-384), not {type(key).__name__}")
    sealer = Sealer(certs[0], key, tuple(certs[1:]))
    algorithm(sealer.key)  # refuses an unsupported curve now rather than at the first export
    if not keys_match(sealer.certificate, sealer.key):
        raise SealError("the seal key does not match the certificate's public key")
    return sealer


def keys_match(certificate: x509.Certificate, key: SealKeyType) -> bool:
    def raw(k: Any) -> bytes:
        return bytes(
            k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )

    return raw(certificate.public_key()) == raw(key.public_key())


def algorithm(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        found = CURVES.get(key.curve.name)
        if found is None:
            raise SealError(f"EC curve {key.curve.name} is not supported (use P-256 or P-384)")
        return found[0]
    raise SealError(f"{type(key).__name__} keys cannot seal a credential (use RSA or EC)")


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def issuer_serial(certificate: x509.Certificate) -> bytes:
    """DER ``IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber INTEGER }`` (RFC 5035)."""
    name = certificate.issuer.public_bytes()
    general_names = _der(0x30, _der(0xA4, name))  # GeneralNames with one directoryName [4]
    serial = certificate.serial_number
    serial_bytes = serial.to_bytes(serial.bit_length() // 8 + 1, "big")  # leading 0 keeps it positive
    return _der(0x30, general_names + _der(0x02, serial_bytes))


def payload_text(credential: Mapping[str, Any]) -> str:
    return json.dumps(credential, ensure_ascii=False, separators=(",", ":"))


def _signing_input(protected: str, payload: str) -> bytes:
    # b64=false: the payload goes into the signing input as its own bytes, not base64url.
    return protected.encode("ascii") + b"." + payload.encode("utf-8")


def seal(credential: Mapping[str, Any], sealer: Sealer, signed_at: datetime) -> dict[str, Any]:
    """The credential enveloped in a JAdES seal (JWS JSON serialization, unencoded payload)."""
    alg = algorithm(sealer.key)
    der = sealer.certificate.public_bytes(serialization.Encoding.DER)
    chain = [der] + [c.public_bytes(serialization.Encoding.DER) for c in sealer.chain]
    header = {
        "alg": alg,
        "cty": CTY,
        "kid": base64.b64encode(issuer_serial(sealer.certificate)).decode("ascii"),
        "x5t#S256": b64url(hashlib.sha256(der).digest()),
        "x5c": [base64.b64encode(c).decode("ascii") for c in chain],
        "typ": TYP,
        "b64": False,
        "sigT": iso(signed_at),
        "crit": list(CRIT),
    }
    protected = b64url(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    payload = payload_text(credential)
    data = _signing_input(protected, payload)
    key = sealer.key
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    else:
        _alg, digest, size = CURVES[key.curve.name]
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")  # JWS wants raw r‖s
    return {"payload": payload, "signatures": [{"protected": protected, "signature": b64url(signature)}]}


@dataclass(frozen=True)
class Verified:
    credential: dict[str, Any]
    certificate: x509.Certificate
    algorithm: str
    signed_at: datetime | None


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _check_signature(public_key: Any, alg: str, signature: bytes, data: bytes) -> None:
    if alg == "RS256" and isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        return
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = CURVES.get(public_key.curve.name)
        if curve is not None and curve[0] == alg and len(signature) == 2 * curve[2]:
            size = curve[2]
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            public_key.verify(encode_dss_signature(r, s), data, ec.ECDSA(curve[1]))
            return
    raise SealError(f"alg {alg} does not fit the certificate's {type(public_key).__name__}")


def verify(
    sealed: Mapping[str, Any] | bytes | str,
    certificate: x509.Certificate | None = None,
    check_validity: bool = True,
) -> Verified:
    """Check a seal and return the credential it protects.

    With ``certificate``, the seal must be made with it (the x5c leaf must be that certificate);
    without, the x5c leaf is used, which proves integrity but not who sealed: trusting the
    certificate (eIDAS trusted lists) is the caller's business. ``check_validity`` requires the
    claimed signing time to fall within the certificate's validity.
    """
    try:
        doc = json.loads(sealed) if isinstance(sealed, bytes | str) else dict(sealed)
        payload = doc["payload"]
        signatures = doc["signatures"]
        if not isinstance(payload, str) or not isinstance(signatures, list) or len(signatures) != 1:
            raise SealError("expected one signature over a JSON payload text")
        protected = signatures[0]["protected"]
        signature = b64url_decode(signatures[0]["signature"])
        header = json.loads(b64url_decode(protected))
    except SealError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise SealError(f"not a JAdES seal in JSON serialization: {exc}") from None
    if header.get("b64") is not False or "b64" not in header.get("crit", []):
        raise SealError("expected an unencoded payload (b64: false, marked critical)")
    unknown = set(header.get("crit", [])) - UNDERSTOOD
    if unknown:
        raise SealError(f"critical header parameters not understood: {', '.join(sorted(unknown))}")
    chain = header.get("x5c") or []
    if not chain:
        raise SealError("the seal carries no certificate (x5c)")
    leaf_der = base64.b64decode(chain[0])
    leaf = x509.load_der_x509_certificate(leaf_der)
    if certificate is not None and certificate.public_bytes(serialization.Encoding.DER) != leaf_der:
        raise SealError("the seal was not made with the expected certificate")
    thumb = header.get("x5t#S256")
    if thumb is not None and thumb != b64url(hashlib.sha256(leaf_der).digest()):
        raise SealError("x5t#S256 does not match the x5c certificate")
    alg = str(header.get("alg"))
    try:
        _check_signature(leaf.public_key(), alg, signature, _signing_input(protected, payload))
    except InvalidSignature:
        raise SealError("the signature does not match the payload: the credential was altered") from None
    signed_at = _parse_time(header["sigT"]) if header.get("sigT") else None
    if (
        check_validity
        and signed_at is not None
        and not leaf.not_valid_before_utc <= signed_at <= leaf.not_valid_after_utc
    ):
        raise SealError(f"sealed at {iso(signed_at)}, outside the certificate's validity")
    try:
        credential = json.loads(payload)
    except ValueError as exc:
        raise SealError(f"the payload is not JSON: {exc}") from None
    return Verified(credential=credential, certificate=leaf, algorithm=alg, signed_at=signed_at)
