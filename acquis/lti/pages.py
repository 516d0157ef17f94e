"""The few HTML pages the LTI tool shows itself: errors, the new-window fallback, registration.

These pages come before any launch is verified, or without one: they cannot know the user's
language and say everything in French and in English (``i18n.both``).
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template_string
from flask_babel import force_locale

from acquis.web.i18n import _, _l, both, lang_of

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
    "deep_link": _l(
        "The request to add acquis to the course is incomplete or has expired. Start again from Moodle."
    ),
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


def _deep_link_words(locale: str) -> tuple[str, dict[str, str]]:
    """The deep-linking pages speak the launch's language (the teacher's Moodle)."""
    lang = lang_of(locale)
    with force_locale(lang):
        return lang, {
            "title": _("Add acquis to the course"),
            "course": _("Course"),
            "intro": _("Choose the resource the activity will open in this course."),
            "resource": _("Progress and badges"),
            "resource_help": _(
                "Students see their progress and their badges there; teachers tag activities with "
                "competencies and decide as a jury."
            ),
            "name": _("Name of the activity in the course"),
            "submit": _("Add to the course"),
            "returning": _("Returning to the platform…"),
            "continue": _("Continue"),
        }


def deep_link_picker(locale: str, action: str, csrf_field: str, csrf_token: str, course: str) -> Response:
    """The teacher's choice of what to place in the course (one resource today), and its name."""
    lang, t = _deep_link_words(locale)
    body = render_template_string(
        """<h1>{{ t.title }}</h1>{% if course %}<p>{{ t.course }} : {{ course }}</p>{% endif %}
<p>{{ t.intro }}</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="{{ csrf_field }}" value="{{ csrf_token }}">
<fieldset><legend>{{ t.title }}</legend>
<p><input type="radio" id="resource-progress" name="resource" value="progress" checked>
<label for="resource-progress">{{ t.resource }}</label><br>
<span class="detail">{{ t.resource_help }}</span></p>
<p><label for="title">{{ t.name }}</label><br>
<input id="title" name="title" size="40" maxlength="255" required value="{{ t.resource }}"></p>
</fieldset>
<p><button type="submit">{{ t.submit }}</button></p></form>""",
        t=t,
        action=action,
        csrf_field=csrf_field,
        csrf_token=csrf_token,
        course=course,
    )
    return _page(t["title"], body, lang=lang)


def deep_link_return(locale: str, url: str, token: str) -> Response:
    """Posts the signed deep linking response to the platform (a button if scripts are off)."""
    lang, t = _deep_link_words(locale)
    body = render_template_string(
        """<p>{{ t.returning }}</p>
<form id="acquis-deep-link" method="post" action="{{ url }}">
<input type="hidden" name="JWT" value="{{ token }}">
<noscript><button type="submit">{{ t.continue }}</button></noscript></form>
<script>document.getElementById("acquis-deep-link").submit();</script>""",
        t=t,
        url=url,
        token=token,
    )
    return _page(t["title"], body, lang=lang)


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
