"""Logging that cannot leak a secret: a filter that masks credentials in every record.

Adapters log remote errors, and remote errors sometimes echo what was sent (a token in a URL,
an Authorization header in a debug dump). Masking at the handler means a careless log line
anywhere still writes no secret.
"""

from __future__ import annotations

import logging
import re

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


def install(level: str) -> None:
    """Logs for long-running processes (serve, worker); every handler masks secrets."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
