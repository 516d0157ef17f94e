"""A REST client of Karuta's backend (karutaproject/karuta-backend_legacy, ``/rest/api``).

Shaped after RestServicePortfolio.java: ``POST /credential/login`` with
``<credential><login/><password/></credential>`` opens a servlet session (a cookie that
``requests.Session`` keeps); ``GET /portfolios/portfolio/code/{code}?resources=true`` returns the
portfolio's XML tree; ``POST /nodes/node/{parent}`` adds a node tree and answers
``<nodes><asmUnit id="…"/></nodes>``; ``PUT /nodes/node/{id}/noderesource`` replaces a node's
nodeRes and ``PUT /resources/resource/{context id}`` an asmContext's own resource.

Errors are raised as the core's delivery errors, worded for the admin; the password never
appears in them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import quote

import requests
from lxml import etree

from acquis.core import safe_xml
from acquis.core.errors import OutcomeUnknownError, PermanentDeliveryError, TransientDeliveryError


@dataclass(frozen=True)
class KarutaConfig:
    url: str  # the backend's REST base, e.g. https://karuta.univ.fr/karuta-backend/rest/api
    login: str
    password: str
    timeout: float = 30.0

    def __repr__(self) -> str:  # the password stays out of tracebacks and logs
        return f"KarutaConfig(url={self.url!r}, login={self.login!r})"


def credential_xml(login: str, password: str) -> bytes:
    root = etree.Element("credential")
    etree.SubElement(root, "login").text = login
    etree.SubElement(root, "password").text = password
    return bytes(etree.tostring(root, encoding="UTF-8", xml_declaration=True))


def parse(xml: bytes) -> etree._Element:
    """Karuta's answers, through the hardened parser (no DTD, entities or network)."""
    try:
        return safe_xml.parse(xml)
    except safe_xml.UnsafeXML as exc:
        raise PermanentDeliveryError(f"Karuta answered XML acquis refuses to read: {exc.reason}") from exc


class KarutaClient:
    """One establishment's session with Karuta; logs in lazily and again when the session ends."""

    def __init__(self, config: KarutaConfig, session: requests.Session | None = None) -> None:
        self.config = config
        self.base = config.url.rstrip("/")
        self.http = session or requests.Session()
        self._lock = threading.Lock()
        self._logged_in = False
        self.logins = 0

    def login(self) -> None:
        url = f"{self.base}/credential/login"
        try:
            resp = self.http.post(
                url,
                data=credential_xml(self.config.login, self.config.password),
                headers={"Content-Type": "application/xml"},
                timeout=(min(self.config.timeout, 10.0), self.config.timeout),
            )
        except requests.ConnectionError as exc:
            raise TransientDeliveryError(f"cannot reach Karuta at {self.base}: check url") from exc
        except requests.Timeout as exc:
            raise TransientDeliveryError(f"Karuta did not answer the login in time ({self.base})") from exc
        self.logins += 1
        if resp.status_code in (401, 403):
            raise PermanentDeliveryError(
                f"Karuta refused the login {self.config.login!r} ({resp.status_code}): check login and "
                "password (acquis adapter set <slug> karuta password=…)"
            )
        if resp.status_code == 404:
            raise PermanentDeliveryError(
                f"no Karuta login at {url} (404): url must be the backend's REST base, ending in "
                "/rest/api (or the server has disabled login)"
            )
        if resp.status_code >= 500:
            raise TransientDeliveryError(f"Karuta failed on login ({resp.status_code}); try again later")
        if resp.status_code != 200:
            raise PermanentDeliveryError(f"Karuta answered {resp.status_code} to the login at {url}")
        self._logged_in = True

    def _request(
        self, method: str, path: str, body: bytes | None = None, sent_matters: bool = False
    ) -> bytes:
        """One call, logged in; a session that ended (401) gets one fresh login.

        ``sent_matters``: the call changes something, so a timeout after sending is an unknown
        outcome rather than a plain failure.
        """
        url = self.base + path
        for attempt in (1, 2):
            with self._lock:
                if not self._logged_in:
                    self.login()
            try:
                resp = self.http.request(
                    method,
                    url,
                    data=body,
                    headers={"Content-Type": "application/xml", "Accept": "application/xml"},
                    timeout=(min(self.config.timeout, 10.0), self.config.timeout),
                )
            except requests.ConnectTimeout as exc:
                raise TransientDeliveryError(f"cannot reach Karuta at {self.base}") from exc
            except requests.Timeout as exc:
                if sent_matters:
                    raise OutcomeUnknownError(f"Karuta did not answer {method} {path} in time") from exc
                raise TransientDeliveryError(f"Karuta did not answer {method} {path} in time") from exc
            except requests.ConnectionError as exc:
                raise TransientDeliveryError(f"cannot reach Karuta at {self.base}: check url") from exc
            if resp.status_code == 401 and attempt == 1:
                with self._lock:
                    self._logged_in = False
                continue
            if resp.status_code >= 500:
                raise TransientDeliveryError(f"Karuta failed ({resp.status_code}) on {method} {path}")
            if resp.status_code == 404:
                raise _NotFound(path)
            if resp.status_code in (401, 403):
                raise PermanentDeliveryError(
                    f"Karuta refused {method} {path} to {self.config.login!r} ({resp.status_code}): give "
                    "this account the right to write in students' portfolios"
                )
            if resp.status_code not in (200, 201, 204):
                raise PermanentDeliveryError(f"Karuta answered {resp.status_code} to {method} {path}")
            return bytes(resp.content)
        raise AssertionError("unreachable")

    # ---- operations ------------------------------------------------------------------------------
    def portfolio(self, code: str) -> etree._Element:
        """The portfolio of this code with its resources; a clear permanent error when it is missing."""
        try:
            xml = self._request("GET", f"/portfolios/portfolio/code/{quote(code, safe='')}?resources=true")
        except _NotFound as exc:
            raise PermanentDeliveryError(
                f"no Karuta portfolio has the code {code!r}: create the student's portfolio in Karuta "
                "(or fix the portfolio_code setting), then retry this message"
            ) from exc
        if not xml.strip():
            raise PermanentDeliveryError(f"no Karuta portfolio has the code {code!r}: create it, then retry")
        try:
            return safe_xml.parse(xml)
        except safe_xml.UnsafeXML as exc:
            raise PermanentDeliveryError(
                f"Karuta answered no portfolio XML for {code!r} ({exc.reason}): is url right?"
            ) from exc

    def add_node(self, parent_id: str, node: etree._Element) -> str:
        try:
            xml = self._request(
                "POST",
                f"/nodes/node/{quote(parent_id)}",
                etree.tostring(node, encoding="UTF-8"),
                sent_matters=True,
            )
        except _NotFound as exc:
            raise PermanentDeliveryError(f"Karuta has no node {parent_id} to add to") from exc
        answer = parse(xml)
        created = answer[0].get("id") if len(answer) else None
        if not created:
            raise PermanentDeliveryError("Karuta added a node but did not say its id")
        return str(created)

    def put_node_resource(self, node_id: str, resource: etree._Element) -> None:
        self._request(
            "PUT", f"/nodes/node/{quote(node_id)}/noderesource", etree.tostring(resource, encoding="UTF-8")
        )

    def put_resource(self, context_id: str, resource: etree._Element) -> None:
        self._request(
            "PUT", f"/resources/resource/{quote(context_id)}", etree.tostring(resource, encoding="UTF-8")
        )


class _NotFound(PermanentDeliveryError):
    def __init__(self, path: str) -> None:
        super().__init__(f"Karuta has nothing at {path}")
