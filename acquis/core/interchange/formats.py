"""The interchange formats by name, so the CLI (and later the web) picks one without knowing them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from sqlalchemy.orm import Session

from acquis.core.errors import InvalidInput
from acquis.core.interchange import case, definition, moodle_csv
from acquis.core.interchange.source import Source
from acquis.core.models import Framework


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]
    read: Callable[[str], Source]
    write: Callable[[Session, Framework], str]


def _write_yaml(session: Session, framework: Framework) -> str:
    return definition.dump_yaml(definition.export_definition(session, framework))


def _write_case(session: Session, framework: Framework) -> str:
    return case.dump_case(case.export_case(session, framework))


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("yaml", (".yaml", ".yml"), definition.read_yaml, _write_yaml),
        Format("case", (".json",), case.read_case, _write_case),
        Format("moodle-csv", (".csv",), moodle_csv.read_moodle_csv, moodle_csv.export_moodle_csv),
    )
}


def get(name: str) -> Format:
    try:
        return FORMATS[name]
    except KeyError:
        raise InvalidInput(f"unknown format {name!r}: use {', '.join(FORMATS)}", field="format") from None


def guess(path: PurePath | str) -> Format:
    """The format a file name suggests: .yaml/.yml, .json (CASE) or .csv (Moodle)."""
    suffix = PurePath(path).suffix.lower()
    for f in FORMATS.values():
        if suffix in f.suffixes:
            return f
    raise InvalidInput(
        f"cannot tell the format of {PurePath(path).name!r} from its extension: "
        f"name it .yaml, .json or .csv, or pass --format ({', '.join(FORMATS)})",
        field="format",
    )
