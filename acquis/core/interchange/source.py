"""A framework read from an interchange file, and its import with errors that name the file's own parts.

``import_definition`` names a bad field by its path in our definition form
(``blocks[0].competencies[2].title``); someone fixing a CASE package or a Moodle CSV needs
``CFItems[7].fullStatement`` or ``row 9, Short name`` instead, so each reader records where every
object of the definition came from and the import translates the path on the way out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from acquis.core import frameworks
from acquis.core.errors import InvalidInput
from acquis.core.models import Establishment, Framework


@dataclass
class Source:
    """A definition (the form ``import_definition`` takes) plus where its parts came from.

    ``origins`` maps a definition path ("" for the framework, "blocks[1]", "scale.pass"…) to a
    place in the file; ``names`` maps our field names to the file's; ``join`` formats a place and a
    field name together.
    """

    definition: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    join: str = "{place}.{name}"

    def locate(self, path: str) -> str:
        """The file's name for a definition path (the path itself when nothing is recorded)."""
        best: str | None = None
        for prefix in self.origins:
            if (path == prefix or not prefix or path.startswith(prefix + ".")) and (
                best is None or len(prefix) > len(best)
            ):
                best = prefix
        if best is None:
            return path
        place = self.origins[best]
        rest = path[len(best) :].lstrip(".")
        if not rest:
            return place
        name = self.names.get(rest, rest)
        return self.join.format(place=place, name=name) if place else name


def check_block_codes(definition: dict[str, Any]) -> None:
    """Two blocks with one code would otherwise surface as a database constraint error."""
    blocks = definition.get("blocks")
    if not isinstance(blocks, list):
        return
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        code = block.get("code") if isinstance(block, dict) else None
        if isinstance(code, str):
            if code in seen:
                raise InvalidInput(f"block code {code!r} is used twice", field=f"blocks[{i}].code")
            seen.add(code)


def import_source(
    session: Session, est: Establishment, source: Source, create_badges: bool = False
) -> Framework:
    """Import ``source`` into ``est``; on bad input nothing is kept once the caller's session rolls back."""
    try:
        check_block_codes(source.definition)
        return frameworks.import_definition(session, est, source.definition, create_badges=create_badges)
    except InvalidInput as exc:
        if exc.field is None or not source.origins:
            raise
        raise InvalidInput(exc.reason, field=source.locate(exc.field)) from None
