"""Moodle 4.x's side of LTI Dynamic Registration, as an HTTP fake added to a FakePlatform.

Built from Moodle's documented behaviour (mod/lti: startltiadvregistration.php,
openid-configuration.php, openid-registration.php and registration_helper):

- the admin's "Tool URL…" is opened with ``openid_configuration`` and ``registration_token``, a
  JWT signed by the site's key with a random 15-character ``sub`` that becomes the client id,
  ``scope`` "reg" and a one-hour expiry;
- the configuration is public JSON: issuer (the site's wwwroot), the auth, token, JWKS and
  registration endpoints, and the lti-platform-configuration (product_family_code "moodle");
- the registration endpoint wants ``Authorization: Bearer <token>`` (else 401
  "missing_registration_token"), refuses a token whose client id is already registered (401
  "token_already_used"), requires response_types (with id_token), initiate_login_uri,
  redirect_uris (a list), client_name, jwks_uri, token_endpoint_auth_method (private_key_jwt) and
  the lti-tool-configuration with domain and target_link_uri (400 "missing required attribute
  X" and the like), adds the tool as *pending*, and answers with the registration, client_id and
  the tool type id as deployment_id.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from flask import Response, jsonify, redirect, request

from tests.fakes.lti_platform import FakePlatform

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"


GRANTABLE = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)


@dataclass
class ToolType:
    type_id: int
    client_id: str
    state: str
    registration: dict[str, Any]


@dataclass
class MoodleRegistration:
    platform: FakePlatform
    types: list[ToolType] = field(default_factory=list)
    next_type_id: int = 3  # Moodle's lti_types already hold a couple of rows on a real site
    configuration_requests: int = 0

    def __post_init__(self) -> None:
        app = self.platform.app
        app.add_url_rule("/mod/lti/startltiadvregistration.php", view_func=self._start)
        app.add_url_rule("/mod/lti/openid-configuration.php", view_func=self._configuration)
        app.add_url_rule("/mod/lti/openid-registration.php", view_func=self._register, methods=["POST"])

    def registration_token(self, expires_in: int = 3600) -> str:
        now = int(time.time())
        sub = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(15))
        claims = {"sub": sub, "scope": "reg", "iat": now, "exp": now + expires_in}
        return self.platform.sign(claims)

    def start_url(self, tool_url: str) -> str:
        return self.platform.base_url + "/mod/lti/startltiadvregistration.php?" + urlencode({"url": tool_url})

    def _start(self) -> Any:
        params = {
            "openid_configuration": self.platform.base_url + "/mod/lti/openid-configuration.php",
            "registration_token": self.registration_token(),
        }
        return redirect(request.args["url"] + "?" + urlencode(params))

    def _configuration(self) -> Any:
        self.configuration_requests += 1
        base = self.platform.base_url
        return jsonify(
            {
                "issuer": base,
                "token_endpoint": base + "/mod/lti/token.php",
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
                "jwks_uri": base + "/mod/lti/certs.php",
                "authorization_endpoint": base + "/mod/lti/auth.php",
                "registration_endpoint": base + "/mod/lti/openid-registration.php",
                "scopes_supported": ["openid"],
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public", "pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
                "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                    "product_family_code": "moodle",
                    "version": "4.3.2 (Build: 20231222)",
                    "messages_supported": ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"],
                    "placements": ["AddContentMenu"],
                    "variables": ["User.id", "Context.id"],
                },
            }
        )

    def _register(self) -> Any:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return Response("missing_registration_token", status=401)
        try:
            token = jwt.decode(auth[7:].strip(), self.platform.public_pem, algorithms=["RS256"])
        except jwt.InvalidTokenError:
            # Moodle lets the JWT library's exception escape: the tool sees an error, not a client id.
            return Response("invalid registration token", status=500)
        client_id = str(token["sub"])
        if any(t.client_id == client_id for t in self.types):
            return Response("token_already_used", status=401)
        payload = request.get_json(silent=True) or {}
        for name in (
            "response_types",
            "initiate_login_uri",
            "redirect_uris",
            "client_name",
            "jwks_uri",
            "token_endpoint_auth_method",
            TOOL_CONFIGURATION,
        ):
            if not payload.get(name):
                return Response(f"missing required attribute {name}", status=400)
        tool_conf = payload[TOOL_CONFIGURATION]
        for name in ("domain", "target_link_uri"):
            if not tool_conf.get(name):
                return Response(f"missing required attribute {name}", status=400)
        if "id_token" not in payload["response_types"]:
            return Response("invalid_response_types", status=400)
        if not isinstance(payload["redirect_uris"], list):
            return Response("invalid_redirect_uris", status=400)
        if payload["token_endpoint_auth_method"] != "private_key_jwt":
            return Response("invalid_token_endpoint_auth_method", status=400)
        if payload.get("application_type") not in (None, "", "web"):
            return Response("invalid_application_type", status=400)
        tool = ToolType(self.next_type_id, client_id, "pending", payload)
        self.next_type_id += 1
        self.types.append(tool)
        answer: dict[str, Any] = {
            "client_id": client_id,
            "token_endpoint_auth_method": "private_key_jwt",
            "response_types": ["id_token"],
            "jwks_uri": payload["jwks_uri"],
            "initiate_login_uri": payload["initiate_login_uri"],
            "grant_types": ["client_credentials", "implicit"],
            "redirect_uris": payload["redirect_uris"],
            "application_type": ["web"],
            "client_name": payload["client_name"],
            "logo_uri": "",
            # registration_to_config: the score scope enables grade sync, with lineitem also column
            # management; the NRPS scope enables memberships. The answer names what was granted.
            "scope": " ".join(s for s in str(payload.get("scope") or "").split() if s in GRANTABLE),
            TOOL_CONFIGURATION: {
                "deployment_id": str(tool.type_id),
                "target_link_uri": tool_conf["target_link_uri"],
                "domain": tool_conf["domain"],
                "description": tool_conf.get("description", ""),
                "claims": ["sub", "iss", "name", "family_name", "middle_name", "email"],
            },
        }
        if any(m.get("type") == "LtiDeepLinkingRequest" for m in tool_conf.get("messages", [])):
            answer[TOOL_CONFIGURATION]["messages"] = [{"type": "LtiDeepLinkingRequest"}]
        return jsonify(answer)
