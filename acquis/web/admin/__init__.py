"""The admin console: establishments, LTI platforms, adapters, failed deliveries, dashboards.

Reached from Moodle by an LTI Administrator (who sees only its own establishment) or with a
local administrator's login (who sees all; ``acquis admin add-user``). Everything it changes
goes through the same core functions as the CLI.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g, render_template, request

from acquis.core.errors import NotFound

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="../templates")


def render(template: str, **context: Any) -> str:
    """Render an admin page with who is signed in, the CSRF token of their session, and the language."""
    from acquis.web.i18n import current_lang

    who = g.get("admin")
    return render_template(
        template,
        admin=who,
        csrf_token=who.csrf_token() if who else "",
        lang=current_lang(),
        path=request.path,
        **context,
    )


@bp.errorhandler(NotFound)
def _not_found(exc: NotFound) -> Any:
    # An establishment, adapter or delivery that does not exist (or not in this establishment).
    return render("admin/error.html", error=str(exc)), 404


def register(app: Flask) -> None:
    from acquis.web.admin import console, dashboard, login  # noqa: F401 - they add routes to bp

    app.register_blueprint(bp)
