"""Access to the process runtime from inside a request."""

from __future__ import annotations

from typing import cast

from flask import current_app

from acquis.core.runtime import EXTENSION_KEY, Runtime


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions[EXTENSION_KEY])
