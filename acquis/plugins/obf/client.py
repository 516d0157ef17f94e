"""A REST client of OpenBadge Factory (OBF) for one establishment's API key, API v1 or v2.

Shaped after OBF's own Moodle plugin (openbadgefactory/moodle-local_obf, classes/client.php and
its v1 predecessor): OAuth2 client credentials posted form-encoded, a Bearer token cached until
it expires, one retry after a 403 (OBF answers 403 to an expired token), newline-delimited JSON
lists in v1 and ``{"result": [...]}`` in v2, and ``log_entry`` round-tripped so that our award id
can be found again on OBF's side.

Every failure is raised as one of the core's delivery errors, worded for the IT admin who has to
act on it, and never carries the client secret or the token.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import requests
from urllib3.exceptions import NewConnectionError

from acquis.core.clients import ClientCache
from acquis.core.errors import (
    OutcomeUnknownError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

log = logging.getLogger("acquis.plugins.obf")

ApiVersion = Literal["v1", "v2"]
API_CONSUMER_ID = "acquis"
DEFAULT_API_URL = "https://openbadgefactory.com"
TOKEN_MIN_INTERVAL_S = 10.0  # never ask OBF for more than one token per 10 seconds
PAGE = 1000  # OBF v2 caps list pages at 1000


@dataclass(frozen=True)
class OBFConfig:
    """What the client needs from the adapter's settings."""

    client_id: str
    client_secret: str | None = None
    api_url: str = DEFAULT_API_URL
    api_version: ApiVersion = "v2"
    certificate: str | None = None  # legacy v1 client certificate (PEM)
    private_key: str | None = None  # its key (PEM)
    timeout: float = 30.0  # seconds, for reading a response; connecting gets min(timeout, 10)

    def __repr__(self) -> str:  # secrets stay out of tracebacks and logs
        return (
            f"OBFConfig(client_id={self.client_id!r}, api_url={self.api_url!r}, "
            f"api_version={self.api_version!r})"
        )


@dataclass(frozen=True)
class OBFBadge:
    id: str
    name: str
    description: str = ""
    draft: bool = False


@dataclass(frozen=True)
class OBFEvent:
    """One issuing event as OBF lists it; ``log_entry`` is None when the listing left it out."""

    id: str
    badge_id: str
    recipients: tuple[str, ...] = ()
    log_entry: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str


@dataclass(frozen=True)
class IssueRequest:
    """One issue call: OBF creates one event for all its recipients (batched awards)."""

    recipients: tuple[Recipient, ...]
    issued_on: datetime
    log_entry: Mapping[str, Any]
    expires_on: datetime | None = None
    send_email: bool = True
    show_report: bool = True
    email_subject: str | None = None
    email_body: str | None = None
    email_link_text: str | None = None
    email_footer: str | None = None


@dataclass
class _Token:
    value: str
    expires_at: float  # on the client's clock
    obtained_at: float


def _v1_recipient(r: Recipient) -> str:
    name = r.name.strip()
    return f"{name} <{r.email}>" if name and not any(c in name for c in "<>") else r.email


def _sent_before_failure(exc: requests.ConnectionError) -> bool:
    """Whether a connection error may have happened after the request reached OBF.

    Refused connections, DNS failures and connect timeouts happen before anything is sent;
    a connection reset or a read error may come after OBF acted on the request.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError)  # includes DNS failures (NameResolutionError)


class OBFClient:
    """One establishment's connection to OBF. Thread-safe: workers share it per establishment."""

    def __init__(
        self,
        config: OBFConfig,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        token_min_interval: float = TOKEN_MIN_INTERVAL_S,
    ) -> None:
        if not config.client_id:
            raise PermanentDeliveryError(
                "the OBF client_id is not set: acquis adapter set <slug> obf client_id=…"
            )
        if config.api_version not in ("v1", "v2"):
            raise PermanentDeliveryError(f"api_version must be v1 or v2, not {config.api_version!r}")
        self.config = config
        self.base = config.api_url.rstrip("/")
        self.http = session or requests.Session()
        self.clock = clock
        self.token_min_interval = token_min_interval
        self._token: _Token | None = None
        self._last_token_request: float | None = None
        self._lock = threading.Lock()
        self._cert_dir: tempfile.TemporaryDirectory[str] | None = None
        self.token_requests = 0  # how many tokens this client asked for (for tests and metrics)
        if config.certificate and config.private_key:
            self.http.cert = self._write_certificate(config.certificate, config.private_key)

    @property
    def uses_oauth(self) -> bool:
        return bool(self.config.client_secret)

    @property
    def _timeouts(self) -> tuple[float, float]:
        return (min(self.config.timeout, 10.0), self.config.timeout)

    def close(self) -> None:
        self.http.close()
        if self._cert_dir is not None:
            self._cert_dir.cleanup()
            self._cert_dir = None

    def _write_certificate(self, certificate: str, key: str) -> tuple[str, str]:
        # requests only takes a client certificate from files: keep them in a private directory
        # readable by this process alone, removed when the client is closed.
        self._cert_dir = tempfile.TemporaryDirectory(prefix="acquis-obf-")
        paths = []
        for name, pem in (("cert.pem", certificate), ("key.pem", key)):
            path = os.path.join(self._cert_dir.name, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(pem)
            paths.append(path)
        return paths[0], paths[1]

    # ---- token -------------------------------------------------------------------------------
    def _access_token(self, refused: str | None = None) -> str:
        """The current token, or a new one; ``refused`` is a token OBF just answered 403 to."""
        with self._lock:
            now = self.clock()
            current = self._token
            if current is not None and now < current.expires_at and current.value != refused:
                return current.value  # valid, or already renewed by another thread
            last = self._last_token_request
            if last is not None and now - last < self.token_min_interval:
                if current is not None and current.value == refused:
                    # A token this fresh was refused: a new one would be refused too.
                    raise PermanentDeliveryError(
                        "OBF refused a freshly issued access token (403): the API key may lack the "
                        "rights for this call or belong to another client; check client_id and the "
                        "key's permissions in OBF (Admin tools > API)"
                    )
                raise TransientDeliveryError(
                    "an OBF access token was requested less than 10 seconds ago; will retry"
                )
            self._last_token_request = now
            self.token_requests += 1
            self._token = None
            self._token = self._request_token(now)
            return self._token.value

    def _request_token(self, now: float) -> _Token:
        url = f"{self.base}/{self.config.api_version}/client/oauth2/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret or "",
        }
        try:
            resp = self.http.post(url, data=form, timeout=self._timeouts)
        except requests.RequestException as exc:
            raise TransientDeliveryError(f"OBF token request failed: {type(exc).__name__}") from None
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientDeliveryError(f"OBF token endpoint answered {resp.status_code}; will retry")
        body = _json_or_none(resp)
        if resp.status_code >= 400 or not isinstance(body, dict) or "access_token" not in body:
            raise PermanentDeliveryError(
                f"OBF refused the API credentials ({resp.status_code}): check client_id and "
                "client_secret (OBF: Admin tools > API > OAuth2 client credentials) and api_url"
            )
        lifetime = float(body.get("expires_in") or 3600)
        margin = min(60.0, lifetime / 10)
        return _Token(str(body["access_token"]), now + lifetime - margin, now)

    def drop_token(self) -> None:
        with self._lock:
            self._token = None

    # ---- requests ----------------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        side_effect: bool = False,
    ) -> requests.Response:
        """One API call, with one token renewal after a 403, mapped to the core's errors.

        ``side_effect`` marks calls whose failure after sending leaves the outcome unknown
        (issuing); reads and idempotent writes are simply retried.
        """
        url = f"{self.base}/{path.lstrip('/')}"
        refused: str | None = None
        while True:
            headers = {"Accept": "application/json"}
            token = self._access_token(refused) if self.uses_oauth else None
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            try:
                resp = self.http.request(
                    method, url, params=params, json=json_body, headers=headers, timeout=self._timeouts
                )
            except requests.Timeout as exc:
                if isinstance(exc, requests.ConnectTimeout) or not side_effect:
                    raise TransientDeliveryError(f"OBF did not answer in time ({what})") from None
                raise OutcomeUnknownError(
                    f"OBF did not answer in time after receiving the request ({what}); "
                    "it will be looked up before any new attempt"
                ) from None
            except requests.ConnectionError as exc:
                if side_effect and _sent_before_failure(exc):
                    raise OutcomeUnknownError(
                        f"the connection to OBF broke after the request was sent ({what})"
                    ) from None
                raise TransientDeliveryError(f"cannot reach OBF at {self.base} ({what})") from None
            except requests.RequestException as exc:
                raise TransientDeliveryError(f"OBF request failed ({what}): {type(exc).__name__}") from None
            if resp.status_code == 403 and token is not None and refused is None:
                refused = token  # OBF's answer to an expired token: renew once, try once more
                continue
            self._raise_for(resp, what, side_effect)
            return resp

    def _raise_for(self, resp: requests.Response, what: str, side_effect: bool) -> None:
        code = resp.status_code
        if code < 400:
            return
        detail = _error_detail(resp)
        if code >= 500:
            if side_effect:
                raise OutcomeUnknownError(
                    f"OBF answered {code} to {what}; it may have acted: will look it up first"
                )
            raise TransientDeliveryError(f"OBF answered {code} to {what}; will retry")
        if code == 429:
            raise TransientDeliveryError(f"OBF is rate limiting ({what}); will retry later")
        if code in (401, 403):
            raise PermanentDeliveryError(
                f"OBF refused {what} ({code}): check client_id and client_secret, and that the API "
                "key is active and allowed to issue (OBF: Admin tools > API)" + detail
            )
        if code == 404:
            raise PermanentDeliveryError(
                f"OBF does not know {what} (404): check client_id and api_url, and that the badge "
                "still exists in OBF (acquis obf sync-badges <slug> maps badge classes again)" + detail
            )
        raise PermanentDeliveryError(f"OBF rejected {what} ({code})" + detail)

    # ---- API ---------------------------------------------------------------------------------
    def _cid(self) -> str:
        return quote(self.config.client_id, safe="")

    def ping(self) -> None:
        if self.config.api_version == "v2":
            self._send("GET", f"v2/client/{self._cid()}/ping", "the connection test (ping)")
        else:
            self._send("GET", f"v1/ping/{self._cid()}", "the connection test (ping)")

    def list_badges(self) -> list[OBFBadge]:
        if self.config.api_version == "v1":
            resp = self._send("GET", f"v1/badge/{self._cid()}", "the badge list", params={"draft": 0})
            return [_badge(item) for item in _ldjson(resp)]
        badges: list[OBFBadge] = []
        offset = 0
        while True:
            params = {"draft": 0, "external": 1, "limit": PAGE, "offset": offset}
            resp = self._send("GET", f"v2/badge/{self._cid()}", "the badge list", params=params)
            batch = _result(resp)
            badges.extend(_badge(item) for item in batch)
            offset += PAGE
            if len(batch) < PAGE:
                return badges

    def issue(self, badge_id: str, req: IssueRequest) -> str:
        """Issue ``badge_id`` to every recipient of ``req`` in one call; returns OBF's event id."""
        what = f"issuing badge {badge_id}"
        issued_on = int(req.issued_on.timestamp())
        expires = int(req.expires_on.timestamp()) if req.expires_on is not None else None
        texts = {
            "subject": req.email_subject,
            "body": req.email_body,
            "link_text": req.email_link_text,
            "footer": req.email_footer,
        }
        if self.config.api_version == "v2":
            body: dict[str, Any] = {
                "recipient": [{"email": r.email, "name": r.name} for r in req.recipients],
                "issued_on": issued_on,
                "api_consumer_id": API_CONSUMER_ID,
                "send_email": req.send_email,
                "show_report": req.show_report,
                "log_entry": dict(req.log_entry),
            }
            if expires is not None:
                body["expires_on"] = expires
            if any(texts.values()):
                body["email_message"] = {k: v or "" for k, v in texts.items()}
            path = f"v2/event/{self._cid()}/{quote(badge_id, safe='')}/issue"
            payload = _json_or_none(self._send("POST", path, what, json_body=body, side_effect=True))
            if not isinstance(payload, dict) or not payload.get("resource_id"):
                raise OutcomeUnknownError(f"OBF accepted {what} without naming the event; will look it up")
            return str(payload["resource_id"])
        # v1 takes recipients as strings, "Name <email>" when a name is known (as Moodle sends).
        body = {
            "recipient": [_v1_recipient(r) for r in req.recipients],
            "issued_on": issued_on,
            "api_consumer_id": API_CONSUMER_ID,
            "send_email": 1 if req.send_email else 0,
            "show_report": 1 if req.show_report else 0,
            "log_entry": dict(req.log_entry),
        }
        if expires is not None:
            body["expires"] = expires
        for key, value in texts.items():
            if value:
                body[f"email_{key}"] = value
        path = f"v1/badge/{self._cid()}/{quote(badge_id, safe='')}"
        resp = self._send("POST", path, what, json_body=body, side_effect=True)
        location = resp.headers.get("Location", "")
        event_id = location.rstrip("/").rsplit("/", 1)[-1] if "/event/" in location else ""
        if not event_id:
            raise OutcomeUnknownError(f"OBF accepted {what} without a Location header; will look it up")
        return event_id

    def find_events(self, badge_id: str, email: str) -> list[OBFEvent]:
        """Our events (api_consumer_id "acquis") of ``badge_id`` that include ``email``."""
        what = f"the events of badge {badge_id}"
        params: dict[str, Any] = {"api_consumer_id": API_CONSUMER_ID, "badge_id": badge_id, "email": email}
        if self.config.api_version == "v1":
            resp = self._send("GET", f"v1/event/{self._cid()}", what, params=params)
            return [_event(item) for item in _ldjson(resp)]
        events: list[OBFEvent] = []
        offset = 0
        while True:
            resp = self._send(
                "GET", f"v2/event/{self._cid()}", what, params={**params, "limit": PAGE, "offset": offset}
            )
            body = _json_or_none(resp)
            batch = _result(resp, body)
            events.extend(_event(item) for item in batch)
            offset += PAGE
            total = body.get("total") if isinstance(body, dict) else None
            if len(batch) < PAGE or (isinstance(total, int) and offset >= total):
                return events

    def event_log_entry(self, event_id: str) -> Mapping[str, Any]:
        """The log entry of one event: v2 lists leave it out, the single event carries it."""
        version = self.config.api_version
        path = f"{version}/event/{self._cid()}/{quote(event_id, safe='')}"
        resp = self._send("GET", path, f"event {event_id}")
        body = _json_or_none(resp)
        entry = _log_entry(body.get("log_entry") if isinstance(body, dict) else None)
        return entry or {}

    def iter_events_with_log(self, badge_id: str, email: str) -> Iterator[tuple[OBFEvent, Mapping[str, Any]]]:
        for event in self.find_events(badge_id, email):
            yield event, event.log_entry if event.log_entry is not None else self.event_log_entry(event.id)

    def revoke(self, event_id: str, emails: list[str]) -> None:
        what = f"revoking event {event_id}"
        eid = quote(event_id, safe="")
        if self.config.api_version == "v2":
            self._send("PUT", f"v2/event/{self._cid()}/{eid}/revoke", what, json_body={"recipient": emails})
        else:
            self._send("DELETE", f"v1/event/{self._cid()}/{eid}", what, params={"email": "|".join(emails)})


# ---- parsing ---------------------------------------------------------------------------------
def _json_or_none(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _error_detail(resp: requests.Response) -> str:
    body = _json_or_none(resp)
    if isinstance(body, dict):
        for key in ("error", "message", "error_description"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return f": OBF says {value[:200]!r}"
    return ""


def _result(resp: requests.Response, body: Any = None) -> list[dict[str, Any]]:
    body = _json_or_none(resp) if body is None else body
    if not isinstance(body, dict) or not isinstance(body.get("result"), list):
        raise TransientDeliveryError("OBF sent an unexpected answer: a list (result) was expected")
    return [item for item in body["result"] if isinstance(item, dict)]


def _ldjson(resp: requests.Response) -> list[dict[str, Any]]:
    """v1 lists are newline-delimited JSON objects (CRLF in practice), not a JSON array."""
    out: list[dict[str, Any]] = []
    for line in resp.text.splitlines():
        if line.strip():
            try:
                item = json.loads(line)
            except ValueError:
                raise TransientDeliveryError("OBF sent a list that is not newline-delimited JSON") from None
            if isinstance(item, dict):
                out.append(item)
    return out


def _log_entry(raw: Any) -> dict[str, Any] | None:
    """v2 returns log_entry as a JSON string, v1 as an object."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return None


def _badge(item: Mapping[str, Any]) -> OBFBadge:
    return OBFBadge(
        id=str(item.get("id", "")),
        name=str(item.get("name") or ""),
        description=str(item.get("description") or ""),
        draft=bool(item.get("draft", False)),
    )


def _event(item: Mapping[str, Any]) -> OBFEvent:
    recipients = item.get("recipient")
    return OBFEvent(
        id=str(item.get("id", "")),
        badge_id=str(item.get("badge_id") or ""),
        recipients=tuple(str(r) for r in recipients) if isinstance(recipients, list) else (),
        log_entry=_log_entry(item["log_entry"]) if "log_entry" in item else None,
    )


def client_cache() -> ClientCache[OBFConfig, OBFClient]:
    """One OBF client per (establishment, settings): tokens survive between deliveries."""
    return ClientCache(OBFClient)


__all__ = [
    "API_CONSUMER_ID",
    "ClientCache",
    "IssueRequest",
    "OBFBadge",
    "OBFClient",
    "OBFConfig",
    "OBFEvent",
    "client_cache",
]
