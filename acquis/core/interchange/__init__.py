"""Competency frameworks in and out of acquis: our YAML definition, 1EdTech CASE JSON, Moodle CSV."""

from acquis.core.interchange.formats import FORMATS, Format, get, guess
from acquis.core.interchange.source import Source, import_source

__all__ = ["FORMATS", "Format", "Source", "get", "guess", "import_source"]
