"""Our Open Badges 2.0 output, checked by 1EdTech's own validator (openbadges-validator-core).

The validator fetches the assertion, badge class, issuer, image and revocation list from our
server over real HTTP, exactly as a verifier would. Its JSON-LD context is served from the
reference copy through a transport adapter, and any other connection leaving the machine fails
the test: nothing is fetched from the web.

Installed by `.ci/run` (its pins predate Python 3.11, hence --no-deps; the "test" extra has the
libraries it imports):
    pip install --no-deps openbadges==1.1.2
    pip install aniso8601 future language-tags pydux==0.2.2 PyLD==0.7.1 python-jose pycryptodome \
        pytz python-mimeparse requests-cache rfc3986 jsonschema pypng defusedxml six
"""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from sqlalchemy import select

from acquis.core import adapters
from acquis.core.models import Award
from acquis.core.rules import revoke_awards
from acquis.core.runtime import Runtime
from acquis.core.worker import Worker
from acquis.web.app import create_app
from tests import helpers
from tests.conftest import REFERENCE
from tests.live import serve

# A missing validator is an error, not a skip: `.ci/run` installs it (see the docstring).
try:
    import openbadges.verifier.utils as ob_utils
    import openbadges.verifier.verifier as verifier
    import openbadges_bakery
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "1EdTech's Open Badges validator is not installed; run `bash .ci/run`, or install it as "
        "this module's docstring says"
    ) from exc

LOCAL_CONTEXTS = {
    "https://w3id.org/openbadges/v2": REFERENCE / "openbadges" / "ob-v2-context.json",
}


class LocalContexts(BaseAdapter):
    """Answers for the JSON-LD contexts from the reference files; anything else is a 404."""

    def __init__(self) -> None:
        super().__init__()
        self.served: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.request = request
        response.url = str(request.url)
        path = LOCAL_CONTEXTS.get(str(request.url).rstrip("/"))
        if path is None:
            response.status_code = 404
            response._content = b""
        else:
            self.served.append(str(request.url))
            response.status_code = 200
            response._content = path.read_bytes()
            response.headers["Content-Type"] = "application/ld+json"
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only loopback connections: a context fetched from the web would fail loudly, not pass."""
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"the validator tried to reach {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _validate(url: Any) -> tuple[dict[str, Any], LocalContexts]:
    contexts = LocalContexts()
    session = requests.Session()
    session.mount("https://w3id.org/", contexts)
    session.mount("http://w3id.org/", contexts)
    # verify() would build its own caching loader that fetches from the web; verification_store
    # takes the options as given, so the loader is ours. No cache backend: the graph and image
    # fetches then use plain sessions against the live server.
    options = {
        "include_original_json": False,
        "use_cache": False,
        "cache_backend": None,
        "jsonld_options": {
            "documentLoader": ob_utils.CachableDocumentLoader(use_cache=False, session=session)
        },
    }
    store = verifier.verification_store(url, options=options)
    return verifier.generate_report(store, options=options), contexts


@pytest.fixture
def issued(runtime: Runtime, offline: None) -> Iterator[tuple[str, Runtime]]:
    """A live server whose public URL is its own address, so documents point back at it."""
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
        while time.monotonic() < deadline:
            with runtime.db.session() as s:
                if s.scalar(select(Award.status)) == "issued":
                    break
            time.sleep(0.05)
        with runtime.db.session() as s:
            award = s.scalars(select(Award)).one()
            assert award.status == "issued", award.last_error
            assert award.receipt is not None
            url = award.receipt["url"]
        yield url, runtime


def _errors(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in report["report"]["messages"] if m["messageLevel"] == "ERROR"]


def test_issued_assertion_passes_the_1edtech_validator(issued: tuple[str, Runtime]) -> None:
    url, _ = issued
    report, contexts = _validate(url)
    assert _errors(report) == []
    assert report["report"]["valid"] is True
    assert report["report"]["errorCount"] == 0
    assert report["report"]["warningCount"] == 0
    assert report["report"]["openBadgesVersion"] == "2.0"
    types = {node.get("type") for node in report["graph"]}
    assert {"Assertion", "BadgeClass", "Issuer"} <= types
    assert "https://w3id.org/openbadges/v2" in contexts.served  # the local copy was what it used


def test_revoked_assertion_is_reported_revoked(issued: tuple[str, Runtime]) -> None:
    url, runtime = issued
    with runtime.db.session() as s:
        award = s.scalars(select(Award)).one()
        enabled = adapters.enabled_names(s, award.establishment_id)
        revoke_awards(s, runtime.host, enabled, [award.validation_id], "evidence withdrawn")
    report, _ = _validate(url)
    # validator-core 1.1.2 has no dedicated check for a revoked *hosted* assertion (it only
    # checks revocation lists of signed ones): what it reports is the 410 body we serve, per the
    # OB 2.0 hosted-verification rule, parsed into its graph as revoked, and the badge invalid.
    assert report["report"]["valid"] is False
    assert report["report"]["errorCount"] >= 1
    (node,) = [n for n in report["graph"] if n["id"] == url]
    assert node["revoked"] is True
    assert node["revocationReason"] == "evidence withdrawn"
    assert not any(n.get("type") == "Assertion" for n in report["graph"])  # nothing left to trust


def test_baked_svg_unbakes_to_the_assertion_url(issued: tuple[str, Runtime]) -> None:
    url, _ = issued
    response = requests.get(f"{url}/image.svg", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert openbadges_bakery.unbake(io.BytesIO(response.content)) == url
    # The CDATA copy is the assertion itself, intact.
    cdata = response.text.split("<![CDATA[", 1)[1].split("]]>", 1)[0]
    assert json.loads(cdata) == requests.get(url, timeout=10).json()


def test_baked_svg_file_passes_the_1edtech_validator(issued: tuple[str, Runtime]) -> None:
    url, _ = issued
    baked = io.BytesIO(requests.get(f"{url}/image.svg", timeout=10).content)
    baked.name = "badge.svg"
    report, _ = _validate(baked)  # the validator unbakes the file, then fetches the URL
    assert _errors(report) == []
    assert report["report"]["valid"] is True
    assert report["report"]["validationSubject"] == url


def test_baked_png_unbakes_and_passes_the_1edtech_validator(issued: tuple[str, Runtime]) -> None:
    url, _ = issued
    response = requests.get(f"{url}/image.png", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"] == "image/png"
    assert openbadges_bakery.unbake(io.BytesIO(response.content)) == url
    baked = io.BytesIO(response.content)
    baked.name = "badge.png"
    report, _ = _validate(baked)
    assert _errors(report) == []
    assert report["report"]["valid"] is True


def test_no_baked_image_of_a_revoked_assertion(issued: tuple[str, Runtime]) -> None:
    url, runtime = issued
    with runtime.db.session() as s:
        award = s.scalars(select(Award)).one()
        enabled = adapters.enabled_names(s, award.establishment_id)
        revoke_awards(s, runtime.host, enabled, [award.validation_id], "evidence withdrawn")
    assert requests.get(f"{url}/image.svg", timeout=10).status_code == 410
    assert requests.get(f"{url}/image.png", timeout=10).status_code == 410
