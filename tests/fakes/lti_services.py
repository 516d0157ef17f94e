"""The LTI Advantage services of the fake platform, over HTTP as the IMS specs define them.

lti1p3platform supplies what it implements as a platform: the token endpoint's checks
(``get_access_token``: client_credentials grant, the client assertion JWT verified against the
key set the tool publishes at its JWKS URL, fetched over HTTP; scopes), bearer token checks
(``validate_token``) and the verification of deep linking responses
(``validate_deeplinking_resp``). Its AGS and NRPS service classes answer containers as Python
dicts with ``has_next``/``next`` in the body, not as the specs' HTTP answers, so the HTTP layer
here is written after the specs directly:

* AGS 2.0 — line item container (GET, ``application/vnd.ims.lis.v2.lineitemcontainer+json``,
  a JSON array, paged with ``Link: <…>; rel="next"``), line item creation (POST,
  ``application/vnd.ims.lis.v2.lineitem+json``, 201), scores (POST to ``<lineitem>/scores``,
  ``application/vnd.ims.lis.v1.score+json``), each behind its scope;
* NRPS 2.0 — the membership container (``application/vnd.ims.lti-nrps.v2.membershipcontainer+json``),
  paged with ``Link: <…>; rel="next"``;
* Deep Linking 2.0 — the return URL that receives the tool's signed ``LtiDeepLinkingResponse``.

URLs are Moodle's (``mod/lti/services.php/<course>/lineitems?type_id=1``…).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request

if TYPE_CHECKING:
    from tests.fakes.lti_platform import FakePlatform

AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"
LINEITEM, LINEITEM_READ, SCORE = AGS + "lineitem", AGS + "lineitem.readonly", AGS + "score"
RESULT_READ = AGS + "result.readonly"
NRPS_READ = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
ALL_SCOPES = frozenset({LINEITEM, LINEITEM_READ, SCORE, RESULT_READ, NRPS_READ})

LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
MEMBERS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ACTIVITY_PROGRESS = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING_PROGRESS = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}


@dataclass
class Services:
    """What the platform holds and what the tool did with it (tests read and set these)."""

    granted_scopes: set[str] = field(default_factory=lambda: set(ALL_SCOPES))
    page_size: int = 2
    lineitems: list[dict[str, Any]] = field(default_factory=list)
    scores: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (line item id, score)
    members: list[dict[str, Any]] = field(default_factory=list)
    deep_links: list[dict[str, Any]] = field(default_factory=list)  # verified response claims
    refuse_scores_for: set[str] = field(default_factory=set)  # user ids answered 400
    token_requests: int = 0
    requests: list[str] = field(default_factory=list)  # "METHOD path" of every service call
    used_jtis: set[str] = field(default_factory=set)


def _error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _paged(
    items: list[Any], size: int, url_base: str, params: dict[str, str]
) -> tuple[list[Any], str | None]:
    page = int(request.args.get("page", "0") or 0)
    chunk = items[page * size : (page + 1) * size]
    if (page + 1) * size < len(items):
        return chunk, f"{url_base}?{urlencode({**params, 'page': page + 1})}"
    return chunk, None


def add_services(app: Flask, fake: FakePlatform, conf_cls: Any) -> None:
    s = fake.services

    def conf() -> Any:
        c = conf_cls()
        c.get_registration()
        return c

    def bearer(*scopes: str) -> Response | None:
        s.requests.append(f"{request.method} {request.path}")
        auth = request.headers.get("Authorization", "").split()
        if len(auth) != 2 or auth[0].lower() != "bearer":
            return _error(401, "missing bearer token")
        try:
            ok = conf().validate_token(auth[1], list(scopes))
        except Exception as exc:  # lti1p3platform raises on a bad signature, issuer or expiry
            return _error(401, f"invalid token: {exc}")
        return None if ok else _error(403, "token lacks the scope " + " or ".join(scopes))

    def accepts(media_type: str) -> bool:
        return media_type in request.headers.get("Accept", "") or "*/*" in request.headers.get("Accept", "")

    @app.post("/mod/lti/token.php")
    def token() -> Response:
        s.token_requests += 1
        form = request.form.to_dict()
        c = conf()
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _error(400, "invalid_request: client_assertion_type")
        try:
            claims = c.tool_validate_and_decode(form.get("client_assertion", ""))
        except Exception as exc:
            return _error(401, f"invalid_client: {exc}")
        # RFC 7523 checks lti1p3platform leaves to the platform.
        if claims.get("iss") != fake.client_id or claims.get("sub") != fake.client_id:
            return _error(401, "invalid_client: iss and sub must be the client id")
        if claims.get("aud") not in (fake.token_url, [fake.token_url]):
            return _error(401, "invalid_client: aud must be the token endpoint")
        if not claims.get("jti") or claims["jti"] in s.used_jtis:
            return _error(401, "invalid_client: jti missing or replayed")
        s.used_jtis.add(claims["jti"])
        asked = set(form.get("scope", "").split())
        if not asked & s.granted_scopes:
            return _error(400, "invalid_scope")
        form["scope"] = " ".join(sorted(asked & s.granted_scopes))
        try:
            return jsonify(c.get_access_token(form))
        except Exception as exc:
            return _error(400, f"invalid_request: {exc}")

    def lineitems_url(context: str) -> str:
        return f"{fake.base_url}/mod/lti/services.php/{context}/lineitems"

    @app.get("/mod/lti/services.php/<context>/lineitems")
    def get_lineitems(context: str) -> Response:
        if (refused := bearer(LINEITEM, LINEITEM_READ)) is not None:
            return refused
        if not accepts(CONTAINER_TYPE):
            return _error(406, "Accept must name " + CONTAINER_TYPE)
        mine = [li for li in s.lineitems if li["_context"] == context]
        page, next_url = _paged(mine, s.page_size, lineitems_url(context), {"type_id": "1"})
        response = jsonify([{k: v for k, v in li.items() if not k.startswith("_")} for li in page])
        response.headers["Content-Type"] = CONTAINER_TYPE
        if next_url:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    @app.post("/mod/lti/services.php/<context>/lineitems")
    def create_lineitem(context: str) -> Response:
        if (refused := bearer(LINEITEM)) is not None:
            return refused
        if request.mimetype != LINEITEM_TYPE:
            return _error(415, "Content-Type must be " + LINEITEM_TYPE)
        body = request.get_json(force=True, silent=True)
        if (
            not isinstance(body, dict)
            or not body.get("label")
            or not isinstance(body.get("scoreMaximum"), int | float)
        ):
            return _error(400, "label and scoreMaximum are required")
        if body["scoreMaximum"] <= 0:
            return _error(400, "scoreMaximum must be positive")
        n = len(s.lineitems) + 1
        item = {
            **{
                k: body[k]
                for k in ("label", "scoreMaximum", "tag", "resourceId", "resourceLinkId")
                if k in body
            },
            "id": f"{lineitems_url(context)}/{n}/lineitem?type_id=1",
            "_context": context,
            "_n": n,
        }
        s.lineitems.append(item)
        response = jsonify({k: v for k, v in item.items() if not k.startswith("_")})
        response.status_code = 201
        response.headers["Content-Type"] = LINEITEM_TYPE
        return response

    @app.post("/mod/lti/services.php/<context>/lineitems/<int:n>/lineitem/scores")
    def post_score(context: str, n: int) -> Response:
        if (refused := bearer(SCORE)) is not None:
            return refused
        if request.mimetype != SCORE_TYPE:
            return _error(415, "Content-Type must be " + SCORE_TYPE)
        item = next((li for li in s.lineitems if li["_context"] == context and li["_n"] == n), None)
        if item is None:
            return _error(404, "no such line item")
        score = request.get_json(force=True, silent=True)
        if not isinstance(score, dict):
            return _error(400, "the score is not a JSON object")
        user = str(score.get("userId") or "")
        if not user or user in s.refuse_scores_for:
            return _error(400, f"Incorrect score received: unknown user {user!r}")
        if (
            score.get("activityProgress") not in ACTIVITY_PROGRESS
            or score.get("gradingProgress") not in GRADING_PROGRESS
        ):
            return _error(400, "activityProgress and gradingProgress are required")
        try:
            datetime.fromisoformat(str(score.get("timestamp")))
        except ValueError:
            return _error(400, "timestamp must be an ISO 8601 date and time")
        given, maximum = score.get("scoreGiven"), score.get("scoreMaximum")
        if given is not None and (not isinstance(maximum, int | float) or not 0 <= given <= maximum):
            return _error(400, "scoreGiven must lie between 0 and scoreMaximum")
        s.scores.append((item["id"], score))
        return Response(status=200)

    def members_url(context: str) -> str:
        return f"{fake.base_url}/mod/lti/services.php/CourseSection/{context}/bindings/1/memberships"

    @app.get("/mod/lti/services.php/CourseSection/<context>/bindings/1/memberships")
    def memberships(context: str) -> Response:
        if (refused := bearer(NRPS_READ)) is not None:
            return refused
        if not accepts(MEMBERS_TYPE):
            return _error(406, "Accept must name " + MEMBERS_TYPE)
        page, next_url = _paged(s.members, s.page_size, members_url(context), {})
        response = jsonify(
            {
                "id": request.url,
                "context": {"id": context, "label": context, "title": fake.scenario.context_title},
                "members": page,
            }
        )
        response.headers["Content-Type"] = MEMBERS_TYPE
        if next_url:
            response.headers["Link"] = f'<{next_url}>; rel="next"'
        return response

    @app.post("/mod/lti/contentitem_return.php")
    def deep_link_return() -> Response:
        c = conf()
        try:
            items = c.validate_deeplinking_resp(request.form.to_dict())
            claims = c.tool_validate_and_decode(request.form["JWT"])
        except Exception as exc:
            return _error(400, f"deep linking response refused: {exc!r}")
        # What lti1p3platform leaves to the platform: the response is for us, from this tool.
        aud = claims.get("aud")
        if claims.get("iss") != fake.client_id or fake.issuer not in (
            aud if isinstance(aud, list) else [aud]
        ):
            return _error(400, "iss must be the client id and aud the platform")
        if claims.get("https://purl.imsglobal.org/spec/lti/claim/deployment_id") != fake.deployment_id:
            return _error(400, "unknown deployment_id")
        s.deep_links.append({"items": items, "claims": claims})
        return Response("Content saved", status=200)

    fake.lineitems_url = lineitems_url
    fake.members_url = members_url
