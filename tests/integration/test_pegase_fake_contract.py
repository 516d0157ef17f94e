"""The Pégase fake answers what Pégase's OpenAPI files describe, so tests against it stay honest.

Every JSON body the fake served during a full client run is validated against its operation's
200 response schema, read from /work/shared/reference/pegase. OpenAPI 3.0 is turned into JSON
Schema 2020-12 (``nullable`` → a "null" type) and made strict: an object may carry only the
properties its schema declares, so a misspelt field in the fake fails here.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from acquis.plugins.pegase.client import PegaseClient
from acquis.plugins.pegase.plugin import config_of
from tests.conftest import REFERENCE
from tests.fakes.pegase import FakePegase, FakeResult, FakeStudent, running, settings_for

FILES = {
    "listerFluxInscriptionsPagine": "inscription-ext-api-v2-2.6.0.yaml",
    "lireCursusApprenant": "chc-ext-api-v1-1.4.1.yml",
    "listerCursusPubliableApprenant": "coc-publication-api-v2-2.3.0.yml",
}


class _Loader(yaml.SafeLoader):
    """YAML 1.2 lets an anchor be defined again (the later one wins), and the INS file does so;
    PyYAML (YAML 1.1) refuses unless the earlier definition is forgotten first."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if not isinstance(event, yaml.AliasEvent) and event.anchor is not None:
            self.anchors.pop(event.anchor, None)
        return super().compose_node(parent, index)


def _load(name: str) -> dict[str, Any]:
    with open(REFERENCE / "pegase" / name, encoding="utf-8") as fh:
        doc: dict[str, Any] = yaml.load(fh, Loader=_Loader)  # a SafeLoader subclass
    return doc


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema: "null" joins the type."""
    if isinstance(node, dict):
        out = {k: _nullable(v) for k, v in node.items()}
        if out.pop("nullable", False):
            if isinstance(out.get("type"), str):
                out["type"] = [out["type"], "null"]
            elif "$ref" in out or "allOf" in out:
                out = {"anyOf": [{"type": "null"}, out]}
        out.pop("discriminator", None)
        return out
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


def _strict(schemas: dict[str, Any]) -> None:
    """No undeclared property, except in schemas that are parts of an allOf (their whole is strict)."""
    parts = {
        ref["$ref"].rsplit("/", 1)[-1]
        for s in schemas.values()
        for ref in s.get("allOf", [])
        if isinstance(ref, dict) and "$ref" in ref
    }

    def walk(node: Any, top: str | None) -> None:
        if isinstance(node, dict):
            if ("properties" in node or "allOf" in node) and top not in parts:
                node["unevaluatedProperties"] = False
            for key, value in node.items():
                if key != "allOf":
                    walk(value, None)
        elif isinstance(node, list):
            for v in node:
                walk(v, None)

    for name, schema in schemas.items():
        walk(schema, name)


def _operation(doc: dict[str, Any], operation_id: str) -> dict[str, Any]:
    for item in doc["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                responses = op["responses"]
                ok = responses.get(200) or responses.get("200")
                schema: dict[str, Any] = ok["content"]["application/json"]["schema"]
                return schema
    raise KeyError(operation_id)


def validator(operation_id: str) -> Draft202012Validator:
    doc = _load(FILES[operation_id])
    response = _operation(doc, operation_id)
    schemas = copy.deepcopy(doc["components"]["schemas"])
    if operation_id == "listerFluxInscriptionsPagine":
        # The schema requires "statusInscription" but declares (and documents) the property as
        # "statutInscription": a typo upstream; Pégase sends statutInscription. Fail loudly if
        # the file changes, so this correction is revisited.
        required = schemas["VueInscription"]["required"]
        assert (
            "statusInscription" in required
            and "statusInscription" not in schemas["VueInscription"]["properties"]
        )
        required[required.index("statusInscription")] = "statutInscription"
    schemas = _nullable(schemas)
    _strict(schemas)
    root = {"components": {"schemas": schemas}, "response": _nullable(response)}
    uri = f"urn:pegase:{operation_id}"
    registry: Registry[Any] = Registry().with_resource(uri, Resource.from_contents(root, DRAFT202012))
    return Draft202012Validator(
        {"$ref": f"{uri}#/response"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture
def fake() -> FakePegase:
    f = FakePegase()
    f.students = [
        FakeStudent(
            "10000001",
            "0123456789A",
            "Lucie",
            "Martin",
            "lucie@etu.example.fr",
            results=[FakeResult("BC01", "Bloc 1"), FakeResult("BC02", "Bloc 2", result=None, mark=None)],
        ),
        FakeStudent(
            "10000002",
            None,
            "Estelle",
            "Durand",
            None,
            results=[FakeResult("BC01", "Bloc 1", "AJ", 7.5), FakeResult("BC02", "Bloc 2", published=False)],
            cancelled=True,
        ),
        FakeStudent(
            "10000003",
            "9876543210B",
            "Sam",
            "Bernard",
            "sam@etu.example.fr",
            results=[FakeResult("BC01", "Bloc 1", capitalised=True, result=None, mark=None, scale=None)],
        ),
    ]
    return f


@pytest.fixture
def served(fake: FakePegase) -> Iterator[PegaseClient]:
    with running(fake) as url:
        yield PegaseClient(config_of(settings_for(fake, url), timeout=5))


def test_every_answer_of_the_fake_matches_the_openapi_schemas(fake: FakePegase, served: PegaseClient) -> None:
    inscriptions = list(served.iter_inscriptions(fake.periode))
    assert len(inscriptions) == 3
    for s in fake.students:
        served.cursus(s.code)
        served.results(fake.periode, s.code, s.formation)
    served.results(fake.periode, "10000001", "LIC-INFO>BC01")
    seen = {op for op, _ in fake.responses}
    assert seen == set(FILES)
    for operation, body in fake.responses:
        errors = sorted(validator(operation).iter_errors(body), key=lambda e: list(e.absolute_path))
        assert not errors, f"{operation}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
        )


def test_the_validation_catches_drift() -> None:
    """A misspelt, a missing and a mistyped field are each refused: the check has teeth."""
    fake = FakePegase()
    student = FakeStudent("1", "X", "A", "B", "a@b.fr", results=[FakeResult("BC01", "Bloc")])
    good = fake.chemin(student, student.results[0])
    coc = validator("listerCursusPubliableApprenant")
    assert coc.is_valid([good])
    misspelt = {**good, "noteFinal": 12}
    missing = {k: v for k, v in good.items() if k != "listeControle"}
    mistyped = {**good, "bareme": "20"}
    for bad in (misspelt, missing, mistyped):
        assert not coc.is_valid([bad])
    ins = validator("listerFluxInscriptionsPagine")
    inscription = fake.inscription(student)
    page: dict[str, Any] = {
        "taille": 1,
        "resultats": [inscription],
        "totalElements": 1,
        "page": 0,
        "totalPages": 1,
    }
    assert ins.is_valid(page)
    inscription["mels"][0].pop("mail")
    assert not ins.is_valid(page)


def _path_regex(doc: dict[str, Any], operation_id: str) -> tuple[re.Pattern[str], dict[str, Any], set[str]]:
    """The server path prefix + path template of an operation as a regex, the schemas of its path
    parameters, and the names of the query parameters it declares (a form-exploded object
    contributes its properties)."""
    prefix = urlsplit(doc["servers"][0]["url"]).path.rstrip("/")
    params_by_ref = doc["components"].get("parameters", {})
    for template, item in doc["paths"].items():
        for op in item.values():
            if not isinstance(op, dict) or op.get("operationId") != operation_id:
                continue
            params = [*item.get("parameters", []), *op.get("parameters", [])]
            params = [params_by_ref[p["$ref"].rsplit("/", 1)[-1]] if "$ref" in p else p for p in params]
            path_schemas = {p["name"]: p.get("schema", {}) for p in params if p["in"] == "path"}
            query: set[str] = set()
            for p in (p for p in params if p["in"] == "query"):
                schema = p.get("schema", {})
                if "$ref" in schema and p.get("explode"):
                    target = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
                    query |= set(target.get("properties", {}))
                else:
                    query.add(p["name"])
            pattern = re.escape(prefix + template)
            for name in path_schemas:
                pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>[^/]+)")
            return re.compile(pattern + "$"), path_schemas, query
    raise KeyError(operation_id)


def test_the_client_calls_paths_and_parameters_the_openapi_files_declare(
    fake: FakePegase, served: PegaseClient
) -> None:
    """The fake serves each operation under its server's path, and the client's path parameters
    and query parameters are the declared ones, with values their schemas accept."""
    list(served.iter_inscriptions(fake.periode, since=1725000000))
    served.cursus("10000001")
    served.results(fake.periode, "10000001", "LIC-INFO>BC01")
    assert {op for op, _, _ in fake.requests_seen} == set(FILES)
    for operation, path, query in fake.requests_seen:
        regex, path_schemas, declared = _path_regex(_load(FILES[operation]), operation)
        match = regex.match(unquote(path))
        assert match, f"{operation}: {path} does not match {regex.pattern}"
        for name, value in match.groupdict().items():
            errors = list(Draft202012Validator(_nullable(path_schemas[name])).iter_errors(value))
            assert not errors, f"{operation}: path parameter {name}={value!r}: {errors[0].message}"
        assert set(query) <= declared, f"{operation}: undeclared query parameters {set(query) - declared}"
