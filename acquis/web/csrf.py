"""CSRF tokens for the forms of pages shown inside Moodle's iframe.

The session cookie there is SameSite=None (the only way a third-party iframe keeps it), so
browsers send it with cross-site POSTs too: every form carries a token derived from that
cookie with a server key, which another site can neither read nor compute.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import abort, request

from acquis.core import crypto

FIELD = "csrf_token"


def _key() -> bytes:
    first = crypto.configured_keys()[0]
    return hmac.new(first.encode(), b"acquis-csrf", hashlib.sha256).digest()


def token(cookie_value: str) -> str:
    return hmac.new(_key(), cookie_value.encode(), hashlib.sha256).hexdigest()


def check(cookie_name: str) -> None:
    """Abort with 403 unless the form's token matches the session cookie of this request."""
    cookie = request.cookies.get(cookie_name, "")
    given = request.form.get(FIELD, "")
    if not cookie or not given or not hmac.compare_digest(given, token(cookie)):
        abort(403, description="the form has expired or did not come from acquis: reload the page")
