"""An HTTP fake of OpenBadge Factory, served on a loopback port, with fault injection.

It follows the published API and the shapes of the responses OBF's Moodle plugin recorded
(/work/shared/reference/obf, checked by tests/integration/test_obf_fake_contract.py): v1 lists
are newline-delimited JSON (CRLF), v2 lists are ``{"result": [...], "total": N}``, a v2 event
list leaves ``log_entry`` out while the single event carries it as a JSON *string*, v1 issuing
answers 201 with a Location header, an expired or unknown token gets 403, and tokens are rate
limited per client.

Faults (``fault_rate`` of the non-token calls, drawn from a seeded RNG) are "timeout" (sleep
past the client's timeout, act on nothing), "error" (500, act on nothing) and "accept_timeout"
(act, then sleep past the client's timeout): the last is what makes exactly-once hard.
``hold_next_issue()`` keeps one issue request waiting inside OBF, not yet acted on, for as long
as a test needs (a slow OBF, or a worker slowed down by a loaded machine).
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request

from tests.live import serve

FAULT_KINDS = ("timeout", "error", "accept_timeout")


@dataclass
class Gate:
    """One request held before OBF acts on it: ``arrived`` once it waits, until ``release``."""

    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class FakeEvent:
    id: str
    client_id: str
    badge_id: str
    badge_name: str
    recipients: list[dict[str, Any]]  # {"email", "name", "revoked"}
    issued_on: int
    expires_on: int | None
    log_entry: dict[str, Any]
    api_consumer_id: str
    email_message: dict[str, Any] | None
    ctime: int
    api: str  # "v1" or "v2": the API it was issued through


@dataclass
class FakeOBF:
    clients: dict[str, str] = field(default_factory=dict)  # client_id → secret
    badges: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # client_id → badges
    token_lifetime: int = 3600
    token_interval: float = 10.0  # seconds between two tokens of one client (429 otherwise)
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fault_sleep: float = 1.0
    seed: int = 0
    events: dict[str, FakeEvent] = field(default_factory=dict)
    tokens: dict[str, tuple[str, float]] = field(default_factory=dict)  # token → (client, expiry)
    calls: Counter[str] = field(default_factory=Counter)  # "METHOD route" → count
    faults: Counter[str] = field(default_factory=Counter)
    token_requests: Counter[str] = field(default_factory=Counter)
    last_token_at: dict[str, float] = field(default_factory=dict)
    requests_log: list[tuple[str, str, Any]] = field(default_factory=list)  # (method, path, body)
    forbidden: set[str] = field(default_factory=set)  # clients whose valid tokens still get 403

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.rng = random.Random(self.seed)
        self._seq = 0
        self._gate: Gate | None = None

    # ---- set-up and inspection ---------------------------------------------------------------
    def add_client(self, client_id: str, secret: str, badges: tuple[tuple[str, str], ...] = ()) -> None:
        self.clients[client_id] = secret
        self.badges[client_id] = [self._badge(bid, name) for bid, name in badges]

    @staticmethod
    def _badge(badge_id: str, name: str, draft: bool = False) -> dict[str, Any]:
        # The shape of get_v2_badges.json's items.
        return {
            "id": badge_id,
            "name": name,
            "description": f"Description of {name}",
            "image": f"https://example.com/badge/{badge_id}/img/image.png",
            "primary_language": "fr",
            "languages": ["fr"],
            "category": [],
            "tag": [],
            "client_alias_id": [],
            "creator_id": None,
            "draft": draft,
            "ctime": 1729086955,
            "mtime": 1747664055,
        }

    def hold_next_issue(self) -> Gate:
        """The next issue request (v1 or v2) waits, before acting, until the gate is released."""
        with self.lock:
            self._gate = Gate()
            return self._gate

    def expire_tokens(self) -> None:
        """OBF-side expiry: every token handed out so far is refused from now on."""
        with self.lock:
            self.tokens.clear()

    def issuances(self) -> Counter[tuple[str, str]]:
        """(badge id, recipient email) → how many times it was issued (revoked ones included)."""
        with self.lock:
            return Counter((e.badge_id, r["email"]) for e in self.events.values() for r in e.recipients)

    def issued_awards(self) -> Counter[str]:
        """Our award public id (from log_entry, one award or a batch) → how many events carry it."""
        with self.lock:
            counted: Counter[str] = Counter()
            for e in self.events.values():
                batch = e.log_entry.get("acquis_awards")
                counted.update(batch if isinstance(batch, list) else [str(e.log_entry.get("acquis_award"))])
            return counted

    def api_calls(self) -> int:
        return sum(n for route, n in self.calls.items() if "oauth2/token" not in route)

    # ---- helpers -----------------------------------------------------------------------------
    def _new_id(self) -> str:
        with self.lock:
            self._seq += 1
            return f"EV{self._seq:06d}{secrets.token_hex(2).upper()}"

    def _authorized(self, client_id: str) -> Response | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        with self.lock:
            entry = self.tokens.get(token)
            expired = entry is None or entry[0] != client_id or entry[1] < time.time()
            if expired or client_id in self.forbidden:
                return _json({"error": "Forbidden"}, 403)
        return None

    def _fault(self) -> str | None:
        with self.lock:
            if self.fault_rate and self.rng.random() < self.fault_rate:
                kind = self.rng.choice(self.fault_kinds)
                self.faults[kind] += 1
                return kind
        return None

    def _badge_of(self, client_id: str, badge_id: str) -> dict[str, Any] | None:
        return next((b for b in self.badges.get(client_id, []) if b["id"] == badge_id), None)

    def _matching(self, client_id: str) -> list[FakeEvent]:
        args = request.args
        out = []
        for e in sorted(self.events.values(), key=lambda e: e.id):
            if e.client_id != client_id:
                continue
            if args.get("badge_id") and e.badge_id != args["badge_id"]:
                continue
            if args.get("api_consumer_id") and e.api_consumer_id != args["api_consumer_id"]:
                continue
            if args.get("email") and args["email"] not in {r["email"] for r in e.recipients}:
                continue
            out.append(e)
        return out

    # ---- shapes ------------------------------------------------------------------------------
    @staticmethod
    def v2_event_item(e: FakeEvent) -> dict[str, Any]:
        # get_v2_event.json: the list leaves log_entry and recipients out.
        return {
            "id": e.id,
            "name": e.badge_name,
            "client_alias_id": None,
            "badge_id": e.badge_id,
            "expires_on": e.expires_on,
            "issued_on": e.issued_on,
            "recipient_count": len(e.recipients),
            "api_consumer_id": e.api_consumer_id,
            "earnable_application_id": None,
            "ctime": e.ctime,
            "mtime": e.ctime,
        }

    @staticmethod
    def v2_single_event(e: FakeEvent) -> dict[str, Any]:
        # get_v2_single_event.json: log_entry is a JSON string here.
        return {
            "id": e.id,
            "name": e.badge_name,
            "client_alias_id": None,
            "badge": {
                "id": e.badge_id,
                "image": "[REDACTED]",
                "primary_language": "",
                "content": [
                    {
                        "language": "",
                        "name": e.badge_name,
                        "description": f"Description of {e.badge_name}",
                        "criteria": "",
                        "tag": [],
                        "alignment": None,
                        "achievement_type": None,
                        "credits_available": None,
                        "field_of_study": None,
                        "human_code": None,
                        "specialization": None,
                    }
                ],
                "creator": None,
            },
            "expires_on": e.expires_on,
            "issued_on": e.issued_on,
            "email_message": e.email_message,
            "log_entry": json.dumps(e.log_entry),
            "api_consumer_id": e.api_consumer_id,
            "earnable_application_id": None,
            "ctime": e.ctime,
            "mtime": e.ctime,
        }

    @staticmethod
    def v2_recipient(e: FakeEvent, r: dict[str, Any]) -> dict[str, Any]:
        # get_v2_single_recipients.json
        tk = secrets.token_hex(8)
        return {
            "event_id": e.id,
            "assertion_id": secrets.token_hex(20),
            "email": r["email"],
            "name": r["name"],
            "receive_url": f"https://fake-obf.test/c/receive?tk={tk}",
            "assertion_json_url": f"https://fake-obf.test/obv3/credentials/{tk}.json",
            "received": False,
            "in_passport": False,
            "pdf_downloaded": False,
            "issued_on": e.issued_on,
            "expires_on": e.expires_on,
            "revoked": bool(r["revoked"]),
        }

    @staticmethod
    def v1_event(e: FakeEvent) -> dict[str, Any]:
        # get_v1_course_assertions.json: log_entry is an object, recipients plain emails.
        return {
            "token": secrets.token_urlsafe(19)[:26],
            "issued_on": e.issued_on,
            "name": e.badge_name,
            "expires": e.expires_on,
            "recipient": [r["email"] for r in e.recipients],
            "badge_id": e.badge_id,
            "log_entry": e.log_entry,
            "id": e.id,
            "revoked": {r["email"]: e.ctime for r in e.recipients if r["revoked"]},
            "timestamp": e.ctime,
        }

    # ---- the app -----------------------------------------------------------------------------
    def app(self) -> Flask:
        app = Flask("fake_obf")
        fake = self

        @app.before_request
        def _count() -> None:
            rule = request.url_rule.rule if request.url_rule is not None else request.path
            with fake.lock:
                fake.calls[f"{request.method} {rule}"] += 1
                fake.requests_log.append((request.method, request.path, request.get_json(silent=True)))

        def token(version: str) -> Response:
            form = request.form if request.form else (request.get_json(silent=True) or {})
            cid = str(form.get("client_id", ""))
            with fake.lock:
                fake.token_requests[cid] += 1
            if form.get("grant_type") != "client_credentials":
                return _json({"error": "unsupported_grant_type"}, 400)
            if cid not in fake.clients or fake.clients[cid] != form.get("client_secret"):
                return _json({"error": "invalid_client"}, 401)
            now = time.time()
            with fake.lock:
                last = fake.last_token_at.get(cid)
                if last is not None and now - last < fake.token_interval:
                    return _json({"error": "too many token requests"}, 429)
                fake.last_token_at[cid] = now
                value = secrets.token_urlsafe(24)
                fake.tokens[value] = (cid, now + fake.token_lifetime)
            return _json({"access_token": value, "token_type": "bearer", "expires_in": fake.token_lifetime})

        app.add_url_rule("/v1/client/oauth2/token", "token_v1", lambda: token("v1"), methods=["POST"])
        app.add_url_rule("/v2/client/oauth2/token", "token_v2", lambda: token("v2"), methods=["POST"])

        def guarded(client_id: str) -> tuple[Response | None, str | None]:
            refused = fake._authorized(client_id)
            if refused is not None:
                return refused, None
            kind = fake._fault()
            if kind in ("timeout", "error"):
                if kind == "timeout":
                    time.sleep(fake.fault_sleep)
                return _json({"error": "Internal Server Error"}, 500), None
            return None, kind

        def after(kind: str | None, resp: Response) -> Response:
            if kind == "accept_timeout":
                time.sleep(fake.fault_sleep)
            return resp

        @app.get("/v2/client/<client_id>/ping")
        def ping_v2(client_id: str) -> Response:
            refused, kind = guarded(client_id)
            return refused or after(kind, _json({"success": True, "message": "pong"}))

        @app.get("/v1/ping/<client_id>")
        def ping_v1(client_id: str) -> Response:
            refused, kind = guarded(client_id)
            return refused or after(kind, Response(client_id, mimetype="text/plain"))

        @app.get("/v2/badge/<client_id>")
        def badges_v2(client_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            items = [b for b in fake.badges.get(client_id, []) if not b["draft"]]
            offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 1000))
            return after(kind, _json({"result": items[offset : offset + limit]}))

        @app.get("/v1/badge/<client_id>")
        def badges_v1(client_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            lines = [
                {
                    "id": b["id"],
                    "name": b["name"],
                    "description": b["description"],
                    "image": b["image"],
                    "css": None,
                    "criteria_html": "",
                    "email_subject": "",
                    "email_body": "",
                    "email_link_text": "",
                    "email_footer": "",
                    "expires": 0,
                    "tags": [],
                    "category": [],
                    "draft": b["draft"],
                    "ctime": b["ctime"],
                    "mtime": b["mtime"],
                }
                for b in fake.badges.get(client_id, [])
                if not b["draft"]
            ]
            return after(kind, _ldjson(lines))

        def issue(client_id: str, badge_id: str, version: str) -> tuple[Response | None, FakeEvent | None]:
            with fake.lock:
                gate, fake._gate = fake._gate, None
            if gate is not None:
                gate.arrived.set()
                gate.release.wait(30)
            badge = fake._badge_of(client_id, badge_id)
            if badge is None:
                return _json({"error": f"Badge {badge_id} not found"}, 404), None
            body = request.get_json(silent=True)
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("recipient"), list)
                or not body["recipient"]
            ):
                return _json({"error": "recipient is required"}, 400), None
            recipients = []
            for r in body["recipient"]:
                if version == "v2":
                    if not isinstance(r, dict) or "@" not in str(r.get("email", "")):
                        return _json({"error": "recipient must be [{email, name}]"}, 400), None
                    recipients.append({"email": r["email"], "name": r.get("name", ""), "revoked": False})
                else:
                    if not isinstance(r, str):
                        return _json({"error": "recipient must be a list of strings"}, 400), None
                    name, _, rest = r.partition("<")
                    email = rest.rstrip(">").strip() if rest else r.strip()
                    recipients.append(
                        {"email": email, "name": name.strip() if rest else "", "revoked": False}
                    )
            log_entry = body.get("log_entry") or {}
            if isinstance(log_entry, str):
                log_entry = json.loads(log_entry)
            texts = {k: body.get(f"email_{k}") for k in ("subject", "body", "link_text", "footer")}
            event = FakeEvent(
                id=fake._new_id(),
                client_id=client_id,
                badge_id=badge_id,
                badge_name=badge["name"],
                recipients=recipients,
                issued_on=int(body.get("issued_on") or time.time()),
                expires_on=body.get("expires_on" if version == "v2" else "expires"),
                log_entry=log_entry,
                api_consumer_id=str(body.get("api_consumer_id") or ""),
                email_message=body.get("email_message")
                if version == "v2"
                else (texts if any(texts.values()) else None),
                ctime=int(time.time()),
                api=version,
            )
            with fake.lock:
                fake.events[event.id] = event
            return None, event

        @app.post("/v2/event/<client_id>/<badge_id>/issue")
        def issue_v2(client_id: str, badge_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            error, event = issue(client_id, badge_id, "v2")
            if error or event is None:
                return error or _json({}, 500)
            return after(
                kind,
                _json(
                    {
                        "success": True,
                        "message": "",
                        "resource_type": "event",
                        "resource_id": event.id,
                        "count": None,
                    }
                ),
            )

        @app.post("/v1/badge/<client_id>/<badge_id>")
        def issue_v1(client_id: str, badge_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            error, event = issue(client_id, badge_id, "v1")
            if error or event is None:
                return error or _json({}, 500)
            resp = Response("", status=201)
            resp.headers["Location"] = f"/v1/event/{client_id}/{event.id}"
            return after(kind, resp)

        @app.get("/v2/event/<client_id>")
        def events_v2(client_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            with fake.lock:
                found = fake._matching(client_id)
                offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 1000))
                page = [fake.v2_event_item(e) for e in found[offset : offset + limit]]
            return after(kind, _json({"result": page, "total": len(found)}))

        @app.get("/v1/event/<client_id>")
        def events_v1(client_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            with fake.lock:
                lines = [fake.v1_event(e) for e in fake._matching(client_id)]
            return after(kind, _ldjson(lines))

        @app.get("/v2/event/<client_id>/recipient")
        def recipients_v2(client_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            with fake.lock:
                rows = [
                    fake.v2_recipient(e, r)
                    for e in fake._matching(client_id)
                    if not request.args.get("event_id") or e.id == request.args["event_id"]
                    for r in e.recipients
                ]
            return after(kind, _json({"result": rows, "total": len(rows)}))

        @app.get("/v2/event/<client_id>/<event_id>")
        def event_v2(client_id: str, event_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            event = fake.events.get(event_id)
            if event is None or event.client_id != client_id:
                return _json({"error": "Not found"}, 404)
            return after(kind, _json(fake.v2_single_event(event)))

        @app.get("/v1/event/<client_id>/<event_id>", strict_slashes=False)
        def event_v1(client_id: str, event_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            event = fake.events.get(event_id)
            if event is None or event.client_id != client_id:
                return _json({"error": "Not found"}, 404)
            return after(kind, _json(fake.v1_event(event)))

        def revoke(client_id: str, event_id: str, emails: list[str]) -> Response | None:
            event = fake.events.get(event_id)
            if event is None or event.client_id != client_id:
                return _json({"error": "Not found"}, 404)
            with fake.lock:
                for r in event.recipients:
                    if r["email"] in emails:
                        r["revoked"] = True
            return None

        @app.put("/v2/event/<client_id>/<event_id>/revoke")
        def revoke_v2(client_id: str, event_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            body = request.get_json(silent=True) or {}
            emails = [str(e) for e in body.get("recipient", [])]
            error = revoke(client_id, event_id, emails)
            payload = {"success": True, "message": "", "resource_type": None, "resource_id": None}
            return error or after(kind, _json({**payload, "count": len(emails)}))

        @app.delete("/v1/event/<client_id>/<event_id>", strict_slashes=False)
        def revoke_v1(client_id: str, event_id: str) -> Response:
            refused, kind = guarded(client_id)
            if refused:
                return refused
            emails = [e for e in request.args.get("email", "").split("|") if e]
            error = revoke(client_id, event_id, emails)
            return error or after(kind, Response("", status=204))

        return app


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _ldjson(items: list[dict[str, Any]]) -> Response:
    return Response("".join(json.dumps(i) + "\r\n" for i in items), mimetype="application/json")


@contextmanager
def running(fake: FakeOBF) -> Iterator[str]:
    with serve(fake.app()) as url:
        yield url
