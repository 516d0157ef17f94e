"""Open Badges 3.0 over real HTTP: a credential fetched from our server, checked against
1EdTech's JSON Schemas, verified with the key set the server publishes, and reported revoked."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import jsonschema
import jwt
import pytest
import requests
from sqlalchemy import select, text

from acquis.core import adapters
from acquis.core.models import Award, BadgeClass, Establishment
from acquis.core.rules import revoke_awards
from acquis.core.runtime import Runtime
from acquis.core.worker import Worker
from acquis.plugins.openbadges import keys, ob3
from acquis.web.app import create_app
from tests import helpers
from tests.conftest import REFERENCE
from tests.live import serve

SCHEMAS = REFERENCE / "openbadges"


def _schema(name: str) -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator: jsonschema.protocols.Validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return validator


@dataclasses.dataclass
class Live:
    base: str
    runtime: Runtime
    award_public_id: str
    slug: str = "univ-a"

    @property
    def credential_url(self) -> str:
        return ob3.credential_url(self.base, self.award_public_id)


@pytest.fixture
def live(runtime: Runtime) -> Iterator[Live]:
    """A live server whose public URL is its own address, with one award issued through it."""
    with runtime.db.session() as s:
        tenant = helpers.make_tenant(s, runtime.host, "univ-a")
        helpers.tag(s, tenant, [1], "C1", "Novice")
    with serve(create_app(runtime)) as base:
        runtime.settings = dataclasses.replace(runtime.settings, public_url=base)
        runtime.worker = Worker(runtime.db, runtime.host, base, poll_interval=0.05)
        runtime.worker.start_thread()
        response = requests.post(
            f"{base}/e/univ-a/xapi/statements",
            json=[helpers.reference_statement()],
            auth=(tenant.cred.key, tenant.cred.secret),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 10
        public_id = None
        while time.monotonic() < deadline and public_id is None:
            with runtime.db.session() as s:
                public_id = s.scalar(select(Award.public_id).where(Award.status == "issued"))
            time.sleep(0.05)
        assert public_id is not None, "the award was not issued"
        yield Live(base, runtime, public_id)


def _get(url: str) -> requests.Response:
    return requests.get(url, timeout=10)


def _payload(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return decoded


def test_credential_is_a_signed_openbadgecredential_passing_1edtech_schema(live: Live) -> None:
    response = _get(live.credential_url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == ob3.MEDIA_TYPE
    token = response.text
    payload = _payload(token)

    errors = sorted(_schema("ob-v3p0-achievementcredential-schema.json").iter_errors(payload), key=str)
    assert errors == [], [e.message for e in errors]
    assert payload["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert payload["id"] == live.credential_url and payload["jti"] == payload["id"]
    assert payload["iss"] == payload["issuer"]["id"] == f"{live.base}/ob/v3/issuers/univ-a"

    # The same achievement, alignment and recipient hash as the 2.0 assertion of this award.
    v2 = _get(f"{live.base}/ob/v2/assertions/{live.award_public_id}").json()
    badge = _get(v2["badge"]).json()
    subject = payload["credentialSubject"]
    (identity,) = subject["identifier"]
    assert identity["identityHash"] == v2["recipient"]["identity"]
    assert identity["salt"] == v2["recipient"]["salt"]
    assert identity["identityType"] == {"email": "emailAddress", "url": "identifier"}[v2["recipient"]["type"]]
    achievement = subject["achievement"]
    assert achievement["name"] == badge["name"]
    (alignment,) = achievement["alignment"]
    assert alignment["targetCode"] == badge["alignment"][0]["targetCode"] == "C1#novice"
    assert alignment["targetUrl"] == badge["alignment"][0]["targetUrl"]
    assert _get(achievement["id"]).json()["id"] == achievement["id"]  # dereferenceable
    assert [e["id"] for e in payload["evidence"]] == [e["id"] for e in v2["evidence"]]
    assert all(e["type"] == ["Evidence"] for e in payload["evidence"])

    verified = ob3.verify_url(live.credential_url, _get)
    assert verified.credential["id"] == live.credential_url


def test_issuer_profile_passes_1edtech_profile_schema(live: Live) -> None:
    response = _get(f"{live.base}/ob/v3/issuers/univ-a")
    assert response.status_code == 200
    doc = response.json()
    errors = sorted(_schema("ob-v3p0-profile-schema.json").iter_errors(doc), key=str)
    assert errors == [], [e.message for e in errors]
    assert doc["type"] == ["Profile"] and doc["name"] == "Université univ-a"


def test_jwt_verifies_with_published_jwks_and_one_altered_byte_does_not(live: Live) -> None:
    token = _get(live.credential_url).text
    jwks_response = _get(f"{live.base}/ob/v3/issuers/univ-a/jwks.json")
    assert jwks_response.headers["Content-Type"].startswith("application/jwk-set+json")
    jwks = jwks_response.json()
    (jwk,) = jwks["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "alg", "use"}  # the public half only
    assert ob3.verify(token, jwks).credential["id"] == live.credential_url

    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[raw.index(b"Novice")] ^= 0x01  # "Novice" -> "Oovice"
    altered_payload = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(ob3.VerificationError, match="signature"):
        ob3.verify(f"{header}.{altered_payload}.{signature}", jwks)

    sig = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    sig[10] ^= 0xFF
    altered_sig = base64.urlsafe_b64encode(bytes(sig)).rstrip(b"=").decode()
    with pytest.raises(ob3.VerificationError, match="signature"):
        ob3.verify(f"{header}.{payload}.{altered_sig}", jwks)


def test_key_is_stable_and_encrypted_at_rest(live: Live) -> None:
    first = _get(f"{live.base}/ob/v3/issuers/univ-a/jwks.json").json()
    token = _get(live.credential_url).text
    assert _get(f"{live.base}/ob/v3/issuers/univ-a/jwks.json").json() == first
    assert _get(live.credential_url).text == token  # RS256 is deterministic: same credential, same JWT
    with live.runtime.db.session() as s:
        raw = (
            s.execute(text("SELECT secrets FROM adapter_config WHERE adapter = 'openbadges'")).scalars().all()
        )
    stored = " ".join(r for r in raw if r)
    assert stored and "PRIVATE KEY" not in stored and "BEGIN" not in stored


def test_json_variant_is_the_same_credential_unsigned(live: Live) -> None:
    token = _get(live.credential_url).text
    response = requests.get(live.credential_url, headers={"Accept": "application/json"}, timeout=10)
    assert response.headers["Content-Type"].startswith("application/json")
    claims = _payload(token)
    for registered in ("iss", "jti", "nbf", "exp", "sub"):
        claims.pop(registered, None)
    assert response.json() == claims


def test_revoked_award_is_reported_by_status_list_and_410(live: Live) -> None:
    held = _get(live.credential_url).text  # what the learner keeps in a wallet
    jwks = _get(f"{live.base}/ob/v3/issuers/univ-a/jwks.json").json()
    assert ob3.verify(held, jwks, status=lambda u: _get(u).text) is not None
    status = _payload(held)["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry" and status["statusPurpose"] == "revocation"
    listing = _get(status["statusListCredential"])
    assert listing.headers["Content-Type"] == ob3.MEDIA_TYPE

    with live.runtime.db.session() as s:
        award = s.scalars(select(Award)).one()
        enabled = adapters.enabled_names(s, award.establishment_id)
        revoke_awards(s, live.runtime.host, enabled, [award.validation_id], "evidence withdrawn")

    # The held copy still carries a valid signature, but its status says revoked.
    assert ob3.verify(held, jwks).credential["id"] == live.credential_url
    with pytest.raises(ob3.RevokedError, match=f"bit {status['statusListIndex']} "):
        ob3.verify(held, jwks, status=lambda u: _get(u).text)
    # Who checks by URL gets 410 Gone, as with the 2.0 assertion.
    gone = _get(live.credential_url)
    assert gone.status_code == 410 and gone.json()["revoked"] is True
    with pytest.raises(ob3.RevokedError, match="410 Gone: evidence withdrawn"):
        ob3.verify_url(live.credential_url, _get)
    assert _get(f"{live.credential_url}/image.svg").status_code == 410
    assert _get(f"{live.credential_url}/image.png").status_code == 410


def test_unknown_or_foreign_credential_is_404(live: Live) -> None:
    assert _get(ob3.credential_url(live.base, "no-such-award")).status_code == 404
    assert _get(f"{live.base}/ob/v3/issuers/nobody/jwks.json").status_code == 404
    with live.runtime.db.session() as s:
        badge_id = s.scalar(select(BadgeClass.public_id))
    assert _get(f"{live.base}/ob/v3/achievements/{badge_id}").status_code == 200


def test_key_is_per_establishment(live: Live) -> None:
    with live.runtime.db.session() as s:
        helpers.make_tenant(s, live.runtime.host, "univ-b")
    a = _get(f"{live.base}/ob/v3/issuers/univ-a/jwks.json").json()["keys"][0]["kid"]
    b = _get(f"{live.base}/ob/v3/issuers/univ-b/jwks.json").json()["keys"][0]["kid"]
    assert a != b
    assert keys.ALGORITHM == "RS256"


def test_first_use_at_once_stores_one_key(live: Live) -> None:
    """Concurrent first uses (JWKS page, credentials) must agree on one key, the one stored."""
    from concurrent.futures import ThreadPoolExecutor

    with live.runtime.db.session() as s:
        helpers.make_tenant(s, live.runtime.host, "univ-c")
    with ThreadPoolExecutor(8) as pool:
        kids = set(
            pool.map(
                lambda _: _get(f"{live.base}/ob/v3/issuers/univ-c/jwks.json").json()["keys"][0]["kid"],
                range(16),
            )
        )
    assert len(kids) == 1
    assert _get(f"{live.base}/ob/v3/issuers/univ-c/jwks.json").json()["keys"][0]["kid"] in kids


def _undefined_terms(doc: dict[str, Any]) -> set[str]:
    """Terms the OB 3.0 and VC 2.0 contexts do not define, found by JSON-LD processing (rdflib).

    The contexts are inlined from the reference copies (nothing fetched), with a sentinel
    ``@vocab`` between them: a term neither defines expands under it instead of vanishing.
    """
    import rdflib

    contexts = [
        json.loads((REFERENCE / "w3c" / "credentials-v2.jsonld").read_text())["@context"],
        {"@vocab": "urn:undefined:"},
        json.loads((SCHEMAS / "ob-v3p0-context-3.0.3.json").read_text())["@context"],
    ]
    assert doc["@context"] == ob3.CONTEXT
    graph = rdflib.Graph().parse(data=json.dumps({**doc, "@context": contexts}), format="json-ld")
    assert len(graph) >= 3  # something was understood
    return {str(term) for triple in graph for term in triple if str(term).startswith("urn:undefined:")}


def test_every_term_is_defined_by_the_ob3_context(live: Live) -> None:
    credential = requests.get(live.credential_url, headers={"Accept": "application/ld+json"}, timeout=10)
    assert credential.headers["Content-Type"].startswith("application/ld+json")
    assert _undefined_terms(credential.json()) == set()
    assert _undefined_terms(_get(f"{live.base}/ob/v3/issuers/univ-a").json()) == set()
    # The check itself: a term of our own invention is caught.
    assert _undefined_terms({**credential.json(), "levelRank": 1}) == {"urn:undefined:levelRank"}


def test_baked_svg_carries_the_signed_credential(live: Live) -> None:
    from xml.dom.minidom import parseString

    response = _get(f"{live.credential_url}/image.svg")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("image/svg+xml")
    svg = parseString(response.content).documentElement
    assert svg.getAttribute("xmlns:openbadges") == "https://purl.imsglobal.org/ob/v3p0"
    (element,) = svg.getElementsByTagName("openbadges:credential")
    assert svg.firstChild is element
    token = element.getAttribute("verify")
    jwks = _get(f"{live.base}/ob/v3/issuers/univ-a/jwks.json").json()
    assert ob3.verify(token, jwks, status=lambda u: _get(u).text).credential["id"] == live.credential_url
    assert token == _get(live.credential_url).text


def test_baked_png_carries_the_signed_credential(live: Live) -> None:
    import png  # pypng, which openbadges-bakery brings

    response = _get(f"{live.credential_url}/image.png")
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    chunks = list(png.Reader(bytes=response.content).chunks())  # pypng checks every CRC
    texts = [data for kind, data in chunks if kind == b"iTXt"]
    (text,) = texts
    keyword, rest = text.split(b"\x00", 1)
    assert keyword == b"openbadgecredential"
    assert rest[:4] == b"\x00\x00\x00\x00"  # uncompressed, no language, no translated keyword
    token = rest[4:].decode()
    assert token == _get(live.credential_url).text
    width, height, _, info = png.Reader(bytes=response.content).read()
    assert (width, height, info["alpha"]) == (256, 256, True)


def test_rotation_keeps_held_credentials_verifiable(live: Live) -> None:
    held = _get(live.credential_url).text
    old_kid = jwt.get_unverified_header(held)["kid"]
    with live.runtime.db.session() as s:
        est = s.scalar(select(Establishment).where(Establishment.slug == "univ-a"))
        assert est is not None
        new = keys.rotate(s, live.runtime.host, est)
    jwks = _get(f"{live.base}/ob/v3/issuers/univ-a/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [keys.public_jwk(new)["kid"], old_kid]
    fresh = _get(live.credential_url).text
    assert jwt.get_unverified_header(fresh)["kid"] == keys.public_jwk(new)["kid"]
    for token in (held, fresh):
        assert ob3.verify(token, jwks, status=lambda u: _get(u).text).credential["id"] == live.credential_url
    assert ob3.verify_url(live.credential_url, _get).kid == keys.public_jwk(new)["kid"]


def test_check_reports_a_hand_set_key_that_cannot_sign(live: Live) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    rt = live.runtime
    with rt.db.session() as s:
        est = s.scalar(select(Establishment).where(Establishment.slug == "univ-a"))
        assert est is not None
        before = adapters.check(s, rt.host, est, "openbadges", live.base)
        assert before.ok and "generated on first use" in before.message
        adapters.update_settings(s, rt.host, est, "openbadges", {keys.SETTING: ec_pem})
        after = adapters.check(s, rt.host, est, "openbadges", live.base)
    assert not after.ok and "RSA" in after.message
