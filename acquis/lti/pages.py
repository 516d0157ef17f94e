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
        "dl_title": "Ajouter acquis au cours",
        "dl_intro": "Choisissez la ressource que l'activité ouvrira dans ce cours.",
        "dl_resource": "Progression et badges",
        "dl_resource_help": "Les étudiants y voient leur progression et leurs badges ; les enseignants "
        "y associent les activités aux compétences et décident en jury.",
        "dl_name": "Nom de l'activité dans le cours",
        "dl_submit": "Ajouter au cours",
        "dl_returning": "Retour vers la plateforme…",
        "dl_continue": "Continuer",
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
        "dl_title": "Add acquis to the course",
        "dl_intro": "Choose the resource the activity will open in this course.",
        "dl_resource": "Progress and badges",
        "dl_resource_help": "Students see their progress and their badges there; teachers tag "
        "activities with competencies and decide as a jury.",
        "dl_name": "Name of the activity in the course",
        "dl_submit": "Add to the course",
        "dl_returning": "Returning to the platform…",
        "dl_continue": "Continue",
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
    "deep_link": (
        "La demande d'ajout au cours est incomplète ou a expiré. Recommencez depuis Moodle.",
        "The request to add acquis to the course is incomplete or has expired. Start again from Moodle.",
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


def _lang(locale: str) -> str:
    return "en" if locale.lower().startswith("en") else "fr"


def deep_link_picker(locale: str, action: str, csrf_field: str, csrf_token: str, course: str) -> Response:
    """The teacher's choice of what to place in the course (one resource today), and its name."""
    lang = _lang(locale)
    text = MESSAGES[lang]
    body = render_template_string(
        """<h1>{{ t.dl_title }}</h1>{% if course %}<p>{{ t.course }} : {{ course }}</p>{% endif %}
<p>{{ t.dl_intro }}</p>
<form method="post" action="{{ action }}">
<input type="hidden" name="{{ csrf_field }}" value="{{ csrf_token }}">
<fieldset><legend>{{ t.dl_title }}</legend>
<p><input type="radio" id="resource-progress" name="resource" value="progress" checked>
<label for="resource-progress">{{ t.dl_resource }}</label><br>
<span class="detail">{{ t.dl_resource_help }}</span></p>
<p><label for="title">{{ t.dl_name }}</label><br>
<input id="title" name="title" size="40" maxlength="255" required value="{{ t.dl_resource }}"></p>
</fieldset>
<p><button type="submit">{{ t.dl_submit }}</button></p></form>""",
        t=text,
        action=action,
        csrf_field=csrf_field,
        csrf_token=csrf_token,
        course=course,
    )
    return _page(text["dl_title"], body, lang=lang)


def deep_link_return(locale: str, url: str, token: str) -> Response:
    """Posts the signed deep linking response to the platform (a button if scripts are off)."""
    lang = _lang(locale)
    text = MESSAGES[lang]
    body = render_template_string(
        """<p>{{ t.dl_returning }}</p>
<form id="acquis-deep-link" method="post" action="{{ url }}">
<input type="hidden" name="JWT" value="{{ token }}">
<noscript><button type="submit">{{ t.dl_continue }}</button></noscript></form>
<script>document.getElementById("acquis-deep-link").submit();</script>""",
        t=text,
        url=url,
        token=token,
    )
    return _page(text["dl_title"], body, lang=lang)


def landing(kind: str, locale: str, context: dict[str, Any]) -> Response:
    lang = _lang(locale)
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
