"""Validation of the fields of definitions we import (frameworks, programmes): one wording.

Each error names where the bad value sits (``blocks[0].competencies[1].code``), so that
whoever wrote the file can find it.
"""

from __future__ import annotations

import re
from typing import Any

from acquis.core.errors import InvalidInput

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def text(value: Any, where: str, max_len: int = 512, required: bool = True) -> str:
    """A non-empty text (numbers are accepted as their text); "" for a blank optional one."""
    if not required and (value is None or (isinstance(value, str) and not value.strip())):
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool) or not str(value).strip():
        raise InvalidInput("must be a non-empty text", field=where)
    cleaned = str(value).strip()
    if len(cleaned) > max_len:
        raise InvalidInput(f"longer than {max_len} characters", field=where)
    return cleaned


def code(value: Any, where: str, max_len: int = 128, example: str = "C.1") -> str:
    """An identifier people type and reuse in tags and URLs: letters, digits, '.', '_', '-'."""
    cleaned = text(value, where, max_len)
    if not CODE_RE.match(cleaned):
        raise InvalidInput(f"use letters, digits, '.', '_' or '-' (e.g. {example})", field=where)
    return cleaned
