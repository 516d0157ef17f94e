"""What every log record of one piece of work carries: the request id and the establishment.

Context variables, so the core stays free of Flask: the web layer binds them for a request,
the deliverer for each outbox message (from the request id stored with it), and the outbox
reads the current one when it enqueues. Threads (waitress) and tasks get their own values.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

_request_id: ContextVar[str | None] = ContextVar("acquis_request_id", default=None)
_establishment: ContextVar[str | None] = ContextVar("acquis_establishment", default=None)

# An incoming X-Request-Id is kept only when it is short and made of characters that cannot
# forge a log line or a header (no spaces, quotes, newlines); otherwise a fresh one is made.
_VALID = re.compile(r"[A-Za-z0-9._:/+=-]{1,64}")


def accept_request_id(candidate: str | None) -> str:
    if candidate is not None and _VALID.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def request_id() -> str | None:
    return _request_id.get()


def establishment() -> str | None:
    return _establishment.get()


def set_establishment(slug: str | None) -> None:
    _establishment.set(slug)


Tokens = tuple[Token[str | None], Token[str | None]]


def bind(request: str | None, establishment_slug: str | None = None) -> Tokens:
    """Bind until ``unbind`` (for frameworks whose start and end are separate callbacks)."""
    return _request_id.set(request), _establishment.set(establishment_slug)


def unbind(tokens: Tokens) -> None:
    _establishment.reset(tokens[1])
    _request_id.reset(tokens[0])


@contextmanager
def bound(request: str | None, establishment_slug: str | None = None) -> Iterator[None]:
    """Bind a request id (and establishment) for the duration of a block, then restore."""
    tokens = bind(request, establishment_slug)
    try:
        yield
    finally:
        unbind(tokens)
