"""How CLI commands report the core's errors: one line, exit 1, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from acquis.core.errors import AcquisError

F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AcquisError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]
