"""SHACL conformance of a credential against the official EDC shapes, entirely offline.

The shapes (``EDC-generic-full.ttl`` and the ``EDC-generic-no-cv.ttl`` it imports) and the two
JSON-LD contexts are read from a local copy of the European Learning Model's published files:
a JSON-LD processor must never fetch a context at run time (it would make verification depend
on a third-party server, and leak who verifies what). The contexts are therefore inlined into
the document before parsing, and any other remote context is refused.

Parsing the shapes costs about ten times a validation, so the shapes graph is parsed once per
process and directory (``functools.lru_cache``).

Needs the ``europass`` extra (rdflib, pyshacl); they are imported here only.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyshacl
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.namespace import RDF, SH

from acquis.core.errors import ConfigurationError
from acquis.plugins.europass.credential import EDC_CONTEXT, W3C_CONTEXT

# The ELM repository's files, as in the shared reference folder: <dir>/elm/*.ttl|jsonld, <dir>/w3c/.
REFERENCE_ENV = "ACQUIS_EDC_REFERENCE"
SHAPES = ("EDC-generic-no-cv.ttl", "EDC-generic-full.ttl")


@dataclass(frozen=True)
class Violation:
    """One failed constraint, named as the shapes name it (``edc:EuropeanDigitalCredential-cred_issued``)."""

    shape: str
    path: str | None
    focus: str
    message: str
    severity: str
    details: tuple[Violation, ...] = ()

    def __str__(self) -> str:
        where = f" on {self.path}" if self.path else ""
        inner = "".join(f"\n    ↳ {d}" for d in self.details)
        return f"{self.shape}{where} ({self.focus}): {self.message}{inner}"


@dataclass(frozen=True)
class Report:
    conforms: bool
    violations: tuple[Violation, ...]
    triples: int

    def failing_shapes(self) -> set[str]:
        return {v.shape for v in self.violations}

    def text(self) -> str:
        if self.conforms:
            return "conforms to the EDC shapes"
        return "\n".join(str(v) for v in self.violations)


def reference_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    raw = explicit or os.environ.get(REFERENCE_ENV)
    if not raw:
        raise ConfigurationError(
            f"set {REFERENCE_ENV} to a folder holding elm/ (EDC shapes and context) and w3c/ "
            "(credentials-v1.jsonld) to check credentials against the EDC shapes"
        )
    path = Path(raw)
    if not (path / "elm" / SHAPES[1]).is_file():
        raise ConfigurationError(f"{path} has no elm/{SHAPES[1]}")
    return path


@lru_cache(maxsize=4)
def _shapes(directory: str) -> Graph:
    graph = Graph()
    for name in SHAPES:
        # Both files are parsed together, so the owl:imports of the first by the second is met
        # without pyshacl trying to resolve it over the network.
        graph.parse(Path(directory) / "elm" / name, format="turtle")
    return graph


@lru_cache(maxsize=4)
def _contexts(directory: str) -> dict[str, Any]:
    base = Path(directory)
    with open(base / "w3c" / "credentials-v1.jsonld", encoding="utf-8") as fh:
        w3c = json.load(fh)["@context"]
    with open(base / "elm" / "edc-ap-context.jsonld", encoding="utf-8") as fh:
        edc = json.load(fh)["@context"]
    return {W3C_CONTEXT: w3c, EDC_CONTEXT: edc}


def inline_contexts(document: Mapping[str, Any], contexts: Mapping[str, Any]) -> dict[str, Any]:
    """``document`` with its context URLs replaced by the local copies; unknown ones refused."""
    declared = document.get("@context", [])
    declared = declared if isinstance(declared, list) else [declared]
    inlined: list[Any] = []
    for ctx in declared:
        if isinstance(ctx, str):
            if ctx not in contexts:
                raise ConfigurationError(
                    f"no local copy of the JSON-LD context {ctx}: it will not be fetched"
                )
            inlined.append(contexts[ctx])
        else:
            inlined.append(ctx)
    return {**document, "@context": inlined}


def to_graph(credential: Mapping[str, Any], directory: str | os.PathLike[str] | None = None) -> Graph:
    base = str(reference_dir(directory))
    doc = inline_contexts(credential, _contexts(base))
    with warnings.catch_warnings():
        # rdflib's JSON-LD parser uses its own deprecated ConjunctiveGraph internally.
        warnings.simplefilter("ignore", DeprecationWarning)
        return Graph().parse(data=json.dumps(doc), format="json-ld")


def _name(node: Any, graph: Graph) -> str:
    if isinstance(node, URIRef):
        try:
            return graph.namespace_manager.normalizeUri(node)
        except Exception:  # an IRI no prefix covers
            return str(node)
    return str(node)


def _shape_name(shape: Any, shapes: Graph) -> str:
    """A named shape by its prefixed name; an anonymous one by what it constrains."""
    if not isinstance(shape, BNode):
        return _name(shape, shapes)
    label = shapes.value(shape, SH.name)
    path = shapes.value(shape, SH.path)
    parts = [f"[{_name(path, shapes)}]" if path is not None else "[anonymous shape]"]
    if label is not None:
        parts.append(f'"{label}"')
    return " ".join(parts)


def _violation(result: Any, report: Graph, shapes: Graph) -> Violation:
    path = report.value(result, SH.resultPath)
    message = report.value(result, SH.resultMessage)
    severity = report.value(result, SH.resultSeverity)
    details = tuple(_violation(d, report, shapes) for d in report.objects(result, SH.detail))
    return Violation(
        shape=_shape_name(report.value(result, SH.sourceShape), shapes),
        path=_name(path, shapes) if path is not None else None,
        focus=str(report.value(result, SH.focusNode)),
        message=str(message) if isinstance(message, Literal) else "",
        severity=_name(severity, shapes) if severity is not None else "sh:Violation",
        details=details,
    )


def validate(credential: Mapping[str, Any], directory: str | os.PathLike[str] | None = None) -> Report:
    """Check an (unsigned) credential against EDC-generic-full; violations name their shape."""
    base = str(reference_dir(directory))
    data = to_graph(credential, base)
    shapes = _shapes(base)
    conforms, report, _text = pyshacl.validate(
        data, shacl_graph=shapes, inference="none", advanced=True, allow_warnings=True
    )
    assert isinstance(report, Graph)
    nested = set(report.objects(None, SH.detail))
    violations = tuple(
        _violation(r, report, shapes)
        for r in report.subjects(RDF.type, SH.ValidationResult)
        if r not in nested
    )
    return Report(conforms=bool(conforms), violations=violations, triples=len(data))
