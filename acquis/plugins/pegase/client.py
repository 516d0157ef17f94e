"""A REST client of Pégase (PC-SCOL) for one establishment's technical account.

Pégase authenticates external tools through its CAS server: a form POST of ``username``,
``password`` and ``token=true`` to ``/cas/v1/tickets`` answers with a JWT in the body, which every
API call then sends as ``Authorization: Bearer``. The JWT is kept until shortly before its own
``exp`` (read without verifying the signature: we only need to know when to ask again; the
APIs verify it).

The APIs read (their OpenAPI files are in /work/shared/reference/pegase):
* INS ext v2 ``/gestion/flux-inscriptions/pagine``: the inscriptions, paginated;
* CHC ext v1 ``/cursus?codeApprenant=``: a learner's cursus with its "maquette" tree;
* COC publication v2 ``/etablissements/{s}/periodes/{p}/apprenants/{a}/chemins/{c}``: the
  published marks and results of a learner below a chemin.

Errors are raised as the core's errors, worded for the IT admin, never carrying the password or
the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from acquis.core.errors import PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger("acquis.plugins.pegase")

TOKEN_MARGIN_S = 60.0  # ask for a new JWT this long before the current one expires
PAGE_SIZE = 500  # the inscriptions flow caps pages at 500 without photos


@dataclass(frozen=True)
class PegaseConfig:
    """The adapter's settings as the client needs them; each API has its own base URL in Pégase."""

    auth_url: str  # the CAS server, e.g. https://authn-app.<env>.pc-scol.fr/cas
    ins_url: str  # e.g. https://ins.<env>.pc-scol.fr/api/ins/ext/v2
    coc_url: str  # e.g. https://coc.<env>.pc-scol.fr/api/coc/publication/v2
    chc_url: str  # e.g. https://chc.<env>.pc-scol.fr/api/ext/chc/v1
    username: str
    password: str
    structure: str  # codeStructure of the establishment
    timeout: float = 30.0

    def __repr__(self) -> str:  # the password stays out of tracebacks and logs
        return (
            f"PegaseConfig(auth_url={self.auth_url!r}, username={self.username!r}, "
            f"structure={self.structure!r})"
        )


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), or None when it has none."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class PegaseNotFound(PermanentDeliveryError):
    """Pégase answered 404: a wrong URL, or a code (learner, period, chemin) it does not know."""


class PegaseClient:
    """One establishment's connection to Pégase. Thread-safe: the token is shared under a lock."""

    def __init__(
        self,
        config: PegaseConfig,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.http = session or requests.Session()
        self.clock = clock
        self._token: tuple[str, float] | None = None  # (jwt, expiry on the epoch clock)
        self._lock = threading.Lock()
        self.token_requests = 0

    # ---- authentication ----------------------------------------------------------------------
    def _post_tickets(self) -> str:
        url = self.config.auth_url.rstrip("/") + "/v1/tickets"
        try:
            resp = self.http.post(
                url,
                data={"username": self.config.username, "password": self.config.password, "token": "true"},
                timeout=(min(self.config.timeout, 10.0), self.config.timeout),
            )
        except requests.ConnectionError as exc:
            raise TransientDeliveryError(
                f"cannot reach the Pégase CAS server at {url}: check auth_url (and the network)"
            ) from exc
        except requests.Timeout as exc:
            raise TransientDeliveryError(f"the Pégase CAS server at {url} did not answer in time") from exc
        self.token_requests += 1
        if resp.status_code in (400, 401, 403):
            raise PermanentDeliveryError(
                f"Pégase refused the credentials of {self.config.username!r} ({resp.status_code}): "
                "check username and password (acquis adapter set <slug> pegase password=…)"
            )
        if resp.status_code == 404:
            raise PermanentDeliveryError(
                f"{url} is not a CAS tickets endpoint (404): auth_url must be the CAS base, "
                "e.g. https://authn-app.<env>.pc-scol.fr/cas"
            )
        if resp.status_code >= 500:
            raise TransientDeliveryError(
                f"the Pégase CAS server failed ({resp.status_code}); try again later"
            )
        token = resp.text.strip()
        if resp.status_code not in (200, 201) or token.count(".") != 2:
            raise PermanentDeliveryError(
                f"{url} answered {resp.status_code} without a JWT: is auth_url the Pégase CAS server?"
            )
        return token

    def token(self) -> str:
        with self._lock:
            now = self.clock()
            if self._token is not None and self._token[1] - TOKEN_MARGIN_S > now:
                return self._token[0]
            jwt = self._post_tickets()
            # A token without exp is used for one call at a time rather than trusted forever.
            self._token = (jwt, jwt_expiry(jwt) or now)
            return jwt

    def _forget_token(self, jwt: str) -> None:
        with self._lock:
            if self._token is not None and self._token[0] == jwt:
                self._token = None

    # ---- calls ---------------------------------------------------------------------------------
    def get(self, base: str, path: str, params: Mapping[str, Any] | None = None, api: str = "Pégase") -> Any:
        """GET ``base + path`` as JSON; a 401 gets one retry with a fresh token."""
        url = base.rstrip("/") + path
        for attempt in (1, 2):
            jwt = self.token()
            try:
                resp = self.http.get(
                    url,
                    params=params,
                    headers={"Authorization": f"Bearer {jwt}", "Accept": "application/json"},
                    timeout=(min(self.config.timeout, 10.0), self.config.timeout),
                )
            except requests.ConnectionError as exc:
                raise TransientDeliveryError(f"cannot reach Pégase {api} at {base}: check its URL") from exc
            except requests.Timeout as exc:
                raise TransientDeliveryError(f"Pégase {api} did not answer in time ({url})") from exc
            if resp.status_code == 401 and attempt == 1:
                self._forget_token(jwt)
                continue
            if resp.status_code in (401, 403):
                raise PermanentDeliveryError(
                    f"Pégase {api} refused {self.config.username!r} ({resp.status_code}): give this "
                    "account the API's rights in Pégase (or check the structure code)"
                )
            if resp.status_code == 404:
                raise PegaseNotFound(f"Pégase {api}: not found ({url}); check the URL and codes")
            if resp.status_code >= 500:
                raise TransientDeliveryError(f"Pégase {api} failed ({resp.status_code}) on {url}")
            if resp.status_code != 200:
                raise PermanentDeliveryError(f"Pégase {api} answered {resp.status_code} on {url}")
            try:
                return resp.json()
            except ValueError as exc:
                raise PermanentDeliveryError(
                    f"Pégase {api} at {base} did not answer JSON: is the URL the API's base?"
                ) from exc
        raise AssertionError("unreachable")

    def iter_inscriptions(
        self, periode: str | None = None, since: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every inscription of the flow (INS v2), page after page."""
        page = 0
        while True:
            params: dict[str, Any] = {"page": page, "taille": PAGE_SIZE}
            if periode:
                params["codePeriode"] = periode
            if since is not None:
                params["depuis"] = since
            body = self.get(self.config.ins_url, "/gestion/flux-inscriptions/pagine", params, api="INS")
            if not isinstance(body, dict) or not isinstance(body.get("resultats"), list):
                raise PermanentDeliveryError("Pégase INS answered an unexpected inscriptions page")
            yield from body["resultats"]
            page += 1
            if page >= int(body.get("totalPages") or 0):
                return

    def cursus(self, code_apprenant: str) -> list[dict[str, Any]]:
        """A learner's cursus (CHC), each with its pedagogical tree (``racinePedagogique``)."""
        body = self.get(self.config.chc_url, "/cursus", {"codeApprenant": code_apprenant}, api="CHC")
        return [c for c in body if isinstance(c, dict)] if isinstance(body, list) else []

    def results(self, periode: str, code_apprenant: str, chemin: str) -> list[dict[str, Any]]:
        """The published marks and results (COC publication v2) of a learner below ``chemin``."""
        s = self.config.structure
        path = (
            f"/etablissements/{quote(s, safe='')}/periodes/{quote(periode, safe='')}"
            f"/apprenants/{quote(code_apprenant, safe='')}/chemins/{quote(chemin, safe='')}"
        )
        body = self.get(self.config.coc_url, path, api="COC")
        return [c for c in body if isinstance(c, dict)] if isinstance(body, list) else []
