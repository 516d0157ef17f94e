"""The few HTML pages the LTI tool shows itself: errors, the new-window fallback, role landings.

French by default, English when the launch said so (``launch_presentation.locale``). Error pages
shown before any launch is verified cannot know the user's language and say both.
"""

from __future__ import annotations

from typing import Any

from flask import Response, render_template_string

MESSAGES: dict[str, dict[str, str]] = {
    "fr": {
        "teacher_title": "Espace enseignant",
        "student_title": "Mon espace",
        "admin_title": "Administration de l'établissement",
        "welcome": "Bienvenue",
        "course": "Cours",
        "role": "Rôle",
        "teacher": "enseignant",
        "student": "étudiant",
        "admin": "administrateur de l'établissement",
        "coming": "Les pages détaillées arrivent bientôt.",
    },
    "en": {
        "teacher_title": "Teacher area",
        "student_title": "My area",
        "admin_title": "Establishment administration",
        "welcome": "Welcome",
        "course": "Course",
        "role": "Role",
        "teacher": "teacher",
        "student": "student",
        "admin": "establishment administrator",
        "coming": "The detailed pages are coming soon.",
    },
}

# Error codes shown to users; each says what happened and what to do, in both languages.
ERRORS: dict[str, tuple[str, str]] = {
    "invalid_login": (
        "La demande de connexion LTI est incomplète ou vient d'une plateforme inconnue.",
        "The LTI login request is incomplete or comes from an unknown platform.",
    ),
    "invalid_launch": (
        "Le lancement LTI a été refusé : il n'a pas pu être vérifié.",
        "The LTI launch was refused: it could not be verified.",
    ),
    "state": (
        "Le lancement ne correspond à aucune connexion en cours (état absent ou différent). "
        "Relancez l'activité depuis Moodle.",
        "The launch matches no login in progress (state missing or different). "
        "Launch the activity again from Moodle.",
    ),
    "replayed": (
        "Ce lancement a déjà été utilisé. Relancez l'activité depuis Moodle.",
        "This launch has already been used. Launch the activity again from Moodle.",
    ),
    "message_type": (
        "Ce type de message LTI n'est pas pris en charge par acquis.",
        "This LTI message type is not supported by acquis.",
    ),
    "claims": (
        "Le lancement LTI ne contient pas les informations requises.",
        "The LTI launch lacks required information.",
    ),
    "role": (
        "Votre rôle dans ce cours ne donne pas accès à acquis.",
        "Your role in this course gives no access to acquis.",
    ),
    "no_session": (
        "Aucune session acquis active : ouvrez acquis depuis votre cours Moodle.",
        "No active acquis session: open acquis from your Moodle course.",
    ),
    "forbidden": (
        "Vous n'avez pas accès à cette page.",
        "You have no access to this page.",
    ),
    "registration": (
        "L'enregistrement de l'outil auprès de la plateforme a échoué.",
        "Registering the tool with the platform failed.",
    ),
}

_LAYOUT = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ title }} — acquis</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#222}
.error{border-left:4px solid #b00020;padding:.5rem 1rem;background:#fff4f4}.detail{color:#666;font-size:.9em}
.en{color:#555}</style></head>
<body>{{ body|safe }}</body></html>"""

_ERROR_BODY = """<div class="error" role="alert">
<h1>{{ title }}</h1><p>{{ fr }}</p><p class="en" lang="en">{{ en }}</p>
{% if detail %}<p class="detail">{{ detail }}</p>{% endif %}</div>"""


def _page(title: str, body: str, lang: str = "fr", status: int = 200) -> Response:
    html = render_template_string(_LAYOUT, title=title, body=body, lang=lang)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def error(code: str, status: int, detail: str = "") -> Response:
    """An error page: both languages, the technical detail last (never a secret or a token)."""
    fr, en = ERRORS[code]
    title = "Accès refusé / Access denied" if status in (401, 403) else "Erreur / Error"
    body = render_template_string(_ERROR_BODY, title=title, fr=fr, en=en, detail=detail)
    response = _page(title, body, status=status)
    response.headers["X-Acquis-Error"] = code  # lets tests and logs tell refusals apart
    return response


def new_window(login_url: str) -> Response:
    """The browser sent no state cookie (third-party cookies blocked in the Moodle iframe)."""
    body = render_template_string(
        """<h1>Ouvrir acquis / Open acquis</h1>
<p>Votre navigateur bloque les cookies dans le cadre de Moodle. Ouvrez acquis dans une nouvelle
fenêtre pour continuer.</p>
<p class="en" lang="en">Your browser blocks cookies inside Moodle's frame. Open acquis in a new
window to continue.</p>
<p><a id="open" href="{{ url }}" target="_blank" rel="noopener">Ouvrir dans une nouvelle fenêtre /
Open in a new window</a></p>""",
        url=login_url,
    )
    response = _page("Ouvrir acquis / Open acquis", body, status=200)
    response.headers["X-Acquis-Error"] = "new_window"
    return response


def landing(kind: str, locale: str, context: dict[str, Any]) -> Response:
    lang = "en" if locale.lower().startswith("en") else "fr"
    text = MESSAGES[lang]
    body = render_template_string(
        """<h1>{{ t[kind + '_title'] }}</h1>
<p>{{ t.welcome }}{% if name %}, {{ name }}{% endif %}.</p>
{% if course %}<p>{{ t.course }} : {{ course }}</p>{% endif %}
<p>{{ t.role }} : {{ t[role] }}</p><p>{{ t.coming }}</p>""",
        t=text,
        kind=kind,
        name=context.get("name"),
        course=context.get("course"),
        role=context.get("role"),
    )
    return _page(text[kind + "_title"], body, lang=lang)


def registered(issuer: str, establishment: str, deployment_id: str) -> Response:
    """End of dynamic registration: tell the admin, then ask Moodle to close its registration panel."""
    body = render_template_string(
        """<h1>acquis est enregistré / acquis is registered</h1>
<p>Plateforme {{ issuer }} enregistrée pour {{ establishment }} (déploiement {{ deployment }}).
Dans Moodle, activez l'outil dans « Gérer les outils » : il y reste en attente jusque-là.</p>
<p class="en" lang="en">Platform {{ issuer }} registered for {{ establishment }} (deployment
{{ deployment }}). In Moodle, activate the tool under "Manage tools": it stays pending until then.</p>
<script>(window.opener || window.parent).postMessage({subject: "org.imsglobal.lti.close"}, "*");</script>""",
        issuer=issuer,
        establishment=establishment,
        deployment=deployment_id,
    )
    return _page("acquis est enregistré / acquis is registered", body)
