"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from acquis.core.runtime import EXTENSION_KEY, Runtime
from acquis.lti import views as lti_views
from acquis.web import admin, course_pages, health, i18n, observability, statements


def create_app(runtime: Runtime) -> Flask:
    app = Flask("acquis")
    app.config["MAX_CONTENT_LENGTH"] = runtime.settings.max_body_bytes
    app.extensions[EXTENSION_KEY] = runtime
    i18n.init_app(app)
    observability.install(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(statements.bp)
    app.register_blueprint(lti_views.bp)
    app.register_blueprint(course_pages.bp)
    admin.register(app)
    for blueprint in runtime.host.blueprints():
        app.register_blueprint(blueprint)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        response = jsonify(error=exc.name, message=exc.description)
        response.status_code = exc.code or 500
        if exc.code == 401:
            response.headers["WWW-Authenticate"] = 'Basic realm="acquis"'
        return response

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc: OperationalError) -> Any:
        # The database restarting or out of reach: nothing was committed, so the sender may
        # simply send again (logstore_xapi does), which a 503 with Retry-After says, unlike a 500.
        app.logger.warning("database unavailable: %s", type(exc.orig).__name__)
        response = jsonify(error="Service Unavailable", message="the database is unavailable; retry shortly")
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    return app
