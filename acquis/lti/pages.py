"""The few HTML pages the LTI tool shows itself: errors, the new-window fallback, registration.

These pages come before any launch is verified, or without one: they cannot know the user's
language and say everything in French and in English (``i18n.both``).
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template_string

from acquis.web.i18n import _l, both

# Error codes shown to users; each says what happened and what to do.
ERRORS: dict[str, Any] = {
    "invalid_login": _l("The LTI login request is incomplete or comes from an unknown platform."),
    "invalid_launch": _l("The LTI launch was refused: it could not be verified."),
    "state": _l(
        "The launch matches no login in progress (state missing or different). "
        "Launch the activity again from Moodle."
    ),
    "replayed": _l("This launch has already been used. Launch the activity again from Moodle."),
    "message_type": _l("This LTI message type is not supported by acquis."),
    "claims": _l("The LTI launch lacks required information."),
    "role": _l("Your role in this course gives no access to acquis."),
    "no_session": _l("No active acquis session: open acquis from your Moodle course."),
    "forbidden": _l("You have no access to this page."),
    "registration": _l("Registering the tool with the platform failed."),
}

_LAYOUT = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ title }} — acquis</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1d2125}
.error{border-left:4px solid #a4161a;padding:.5rem 1rem;background:#fff4f4}
.detail{color:#495057;font-size:.9em}.en{color:#495057}
a:focus-visible{outline:3px solid #1d2125;outline-offset:2px}</style></head>
<body><main>{{ body|safe }}</main></body></html>"""

_ERROR_BODY = """<div class="error" role="alert">
<h1>{{ title }}</h1><p>{{ fr }}</p><p class="en" lang="en">{{ en }}</p>
{% if detail %}<p class="detail">{{ detail }}</p>{% endif %}</div>"""


def _page(title: str, body: str, lang: str = "fr", status: int = 200) -> Response:
    html = render_template_string(_LAYOUT, title=title, body=body, lang=lang)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _title(message: str, **variables: Any) -> str:
    fr, en = both(message, **variables)
    return f"{fr} / {en}"


def error(code: str, status: int, detail: str = "") -> Response:
    """An error page: both languages, the technical detail last (never a secret or a token)."""
    fr, en = both(ERRORS[code])
    title = _title("Access denied") if status in (401, 403) else _title("Error")
    body = render_template_string(_ERROR_BODY, title=title, fr=fr, en=en, detail=detail)
    response = _page(title, body, status=status)
    response.headers["X-Acquis-Error"] = code  # lets tests and logs tell refusals apart
    return response


def new_window(login_url: str) -> Response:
    """The browser sent no state cookie (third-party cookies blocked in the Moodle iframe)."""
    title = _title("Open acquis")
    fr, en = both(
        "Your browser blocks cookies inside Moodle's frame. Open acquis in a new window to continue."
    )
    body = render_template_string(
        """<h1>{{ title }}</h1><p>{{ fr }}</p><p class="en" lang="en">{{ en }}</p>
<p><a id="open" href="{{ url }}" target="_blank" rel="noopener">{{ link }}</a></p>""",
        title=title,
        fr=fr,
        en=en,
        url=login_url,
        link=_title("Open in a new window"),
    )
    response = _page(title, body, status=200)
    response.headers["X-Acquis-Error"] = "new_window"
    return response


def registered(issuer: str, establishment: str, deployment_id: str) -> Response:
    """End of dynamic registration: tell the admin, then ask Moodle to close its registration panel."""
    title = _title("acquis is registered")
    fr, en = both(
        "Platform %(issuer)s registered for %(establishment)s (deployment %(deployment)s). "
        'In Moodle, activate the tool under "Manage tools": it stays pending until then.',
        issuer=issuer,
        establishment=establishment,
        deployment=deployment_id,
    )
    body = render_template_string(
        """<h1>{{ title }}</h1><p>{{ fr }}</p><p class="en" lang="en">{{ en }}</p>
<script>(window.opener || window.parent).postMessage({subject: "org.imsglobal.lti.close"}, "*");</script>""",
        title=title,
        fr=fr,
        en=en,
    )
    return _page(title, body)
