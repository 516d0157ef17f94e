"""Logging that cannot leak a secret: a filter that masks credentials in every record.

Adapters log remote errors, and remote errors sometimes echo what was sent (a token in a URL,
an Authorization header in a debug dump). Masking at the handler means a careless log line
anywhere still writes no secret.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from acquis.core import log_context

MASK = "********"
_PATTERNS = [
    re.compile(r"(?i)(authorization\s*[:=]\s*(?:basic|bearer)\s+)[^\s,;'\"]+"),
    re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:client_secret|secret|password|passwd|token|access_token|api_key|wstoken)"
        r"[\"']?\s*[:=]\s*[\"']?)[^\s&,;'\"]+"
    ),
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----)"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
        else:
            text = pattern.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class ContextFilter(logging.Filter):
    """Puts the current request id and establishment on the record (``-`` outside any request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = log_context.request_id() or "-"
        if not hasattr(record, "establishment"):
            record.establishment = log_context.establishment() or "-"
        return True


def _value(tag: object) -> str | None:
    """The context as a JSON value: null outside any request, not the text format's ``-``."""
    return None if tag in (None, "-") else str(tag)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers (``ACQUIS_LOG_FORMAT=json``).

    Formats what the filters left on the record, so the masking filter has already run.
    """

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _value(getattr(record, "request_id", None)) or log_context.request_id(),
            "establishment": _value(getattr(record, "establishment", None)) or log_context.establishment(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            doc["exception"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(establishment)s] %(message)s"
LOG_FORMATS = ("text", "json")


def prepare(handler: logging.Handler, fmt: str = "text") -> None:
    """Make one handler mask secrets, carry the request context, and use the chosen format."""
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))


def install(level: str, fmt: str = "text") -> None:
    """Logs for long-running processes (serve, worker); every handler masks secrets."""
    logging.basicConfig(level=level)
    logging.getLogger().setLevel(level)
    for handler in logging.getLogger().handlers:
        prepare(handler, fmt)
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
