"""Hostile input: the statements endpoint over HTTP and the three framework importers, fuzzed.

Whatever arrives — arbitrary JSON, bytes, or a valid document with parts replaced — the answer
is a 2xx, or a 4xx with a JSON error, never a 500; and a refused input leaves the database as it
was (no completion stored, no half-imported framework). Example counts stay modest for the
suite's time budget; the mutations start from valid documents so they reach deep code.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from acquis.core import establishments, frameworks, interchange
from acquis.core.db import Database
from acquis.core.errors import AcquisError
from acquis.core.interchange.case import definition_to_case, dump_case
from acquis.core.interchange.moodle_csv import definition_to_csv
from acquis.core.models import (
    BadgeClass,
    Block,
    Competency,
    Completion,
    Framework,
    Learner,
    Level,
    OutboxMessage,
)
from acquis.core.runtime import Runtime
from acquis.core.settings import Settings
from acquis.web.app import create_app
from tests import helpers
from tests.conftest import REPO

JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
JSON = st.recursive(
    JSON_LEAF,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# Values that tend to break parsers: wrong types, extremes, odd strings.
NASTY = (
    st.sampled_from(
        [
            None,
            "",
            " ",
            "\x00",
            "é" * 300,
            -1,
            0,
            2**63,
            -(2**63) - 1,
            1e308,
            -0.0,
            [],
            {},
            [[]],
            "1e999",
            "2026-13-45T25:61:61Z",
            "javascript:alert(1)",
            "../../etc/passwd",
            True,
        ]
    )
    | JSON
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one to three parts replaced by nasty values or removed."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(NASTY)
    return doc


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` with a few characters deleted, inserted or replaced, or a slice duplicated."""
    chars = list(text)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, max(0, len(chars) - 1)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        ch = draw(st.sampled_from([*":-,;\"'{}[]\n\t#&*!|>%@`\\\x00", "é", "\ufeff", "  "]))
        if op == "delete" and chars:
            del chars[i : i + draw(st.integers(1, 40))]
        elif op == "insert":
            chars.insert(i, ch)
        elif op == "replace" and chars:
            chars[i] = ch
        else:
            j = draw(st.integers(i, min(len(chars), i + 200)))
            chars[i:i] = chars[i:j]
    return "".join(chars)


# ---- the statements endpoint ------------------------------------------------------------------


@pytest.fixture
def endpoint(runtime: Runtime) -> Any:
    with runtime.db.session() as s:
        tenant = helpers.make_tenant(s, runtime.host, "univ-a")
        helpers.tag(s, tenant, [1, 2])
    return create_app(runtime).test_client(), (tenant.cred.key, tenant.cred.secret), runtime.db


def _counts(db: Database) -> tuple[int, ...]:
    with db.session() as s:
        return tuple(
            int(s.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Completion, Learner, OutboxMessage)
        )


def _check(answer: Any, db: Database, before: tuple[int, ...]) -> None:
    assert answer.status_code < 500, answer.data[:300]
    if answer.status_code >= 400:
        body = answer.get_json(silent=True)
        assert isinstance(body, dict) and body.get("error") and body.get("message"), answer.data[:300]
        assert _counts(db) == before, "a refused batch stored something"


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(
    body=st.lists(mutated(helpers.statement()), min_size=1, max_size=3) | mutated(helpers.statement()) | JSON
)
def test_statements_endpoint_with_mutated_and_arbitrary_json(endpoint: Any, body: Any) -> None:
    client, auth, db = endpoint
    before = _counts(db)
    answer = client.post(
        "/e/univ-a/xapi/statements", data=json.dumps(body), auth=auth, content_type="application/json"
    )
    _check(answer, db, before)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # bytes rarely reach the database
@FUZZ
@given(
    data=st.binary(max_size=400)
    | st.builds(
        lambda s: s.encode("utf-8", "surrogatepass"),
        mutated_text(orjson.dumps([helpers.statement()]).decode()),
    ),
    content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1", ""]),
)
def test_statements_endpoint_with_arbitrary_bytes(endpoint: Any, data: bytes, content_type: str) -> None:
    client, auth, db = endpoint
    before = _counts(db)
    answer = client.post("/e/univ-a/xapi/statements", data=data, auth=auth, content_type=content_type or None)
    _check(answer, db, before)


# ---- the framework importers -----------------------------------------------------------------

DEMO = (REPO / "acquis" / "data" / "frameworks" / "demo.yaml").read_text(encoding="utf-8")
CENTRALE = (REPO / "acquis" / "data" / "frameworks" / "centrale.yaml").read_text(encoding="utf-8")
_CENTRALE_DEF = frameworks.load_yaml(CENTRALE)
SEEDS = {
    "yaml": CENTRALE,
    "case": dump_case(
        definition_to_case(_CENTRALE_DEF, "Centrale", "fr", "2024-01-01T00:00:00+00:00", "urn:t")
    ),
    "moodle-csv": definition_to_csv(_CENTRALE_DEF),
}
FRAMEWORK_TABLES = (Framework, Competency, Level, Block, BadgeClass)


@pytest.fixture(scope="module")
def import_db(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One SQLite database for every example (the importers' database code is backend-neutral)."""
    from acquis.core import migrate

    path: Path = tmp_path_factory.mktemp("fuzz") / "acquis.db"
    db = Database(
        Settings(instance_path=path.parent, database_url=f"sqlite:///{path}", public_url="http://t")
    )
    migrate.upgrade(db.engine)
    with db.session() as s:
        establishments.create(s, "univ-f", "Université F")
    yield db
    db.dispose()


def _framework_rows(db: Database) -> tuple[int, ...]:
    with db.session() as s:
        return tuple(int(s.scalar(select(func.count()).select_from(m)) or 0) for m in FRAMEWORK_TABLES)


class _Undo(Exception):
    """Raised to roll an accepted import back, so every example starts from the same database."""


def _import(db: Database, fmt: str, text: str) -> None:
    before = _framework_rows(db)
    try:
        with db.session() as s:
            source = interchange.get(fmt).read(text)
            fw = interchange.import_source(s, establishments.get(s, "univ-f"), source, create_badges=True)
            assert fw.id is not None and s.scalar(
                select(func.count()).select_from(Competency).where(Competency.framework_id == fw.id)
            )
            raise _Undo
    except _Undo:
        pass
    except AcquisError as exc:
        assert str(exc).strip()  # the project's own error, with a message for the user
    # any other exception fails the test: that is the point
    assert _framework_rows(db) == before, "a refused import left rows behind"


@settings(max_examples=35, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_importers_with_mutated_files(import_db: Database, fmt: str, data: st.DataObject) -> None:
    _import(import_db, fmt, data.draw(mutated_text(SEEDS[fmt])))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("fmt", ["yaml", "case"])
def test_importers_with_mutated_structures(import_db: Database, fmt: str, data: st.DataObject) -> None:
    """Well-formed documents with parts replaced: the validation, not the syntax, is fuzzed."""
    if fmt == "yaml":
        import yaml

        doc = data.draw(mutated(frameworks.load_yaml(DEMO)))
        text = yaml.safe_dump(doc, allow_unicode=True)
    else:
        doc = data.draw(mutated(orjson.loads(SEEDS["case"])))
        text = json.dumps(doc, ensure_ascii=False)
    _import(import_db, fmt, text)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300), fmt=st.sampled_from(sorted(SEEDS)))
def test_importers_with_arbitrary_text(import_db: Database, text: str, fmt: str) -> None:
    _import(import_db, fmt, text)


def test_an_import_failing_half_way_leaves_nothing(import_db: Database) -> None:
    """The last competency is bad: the framework and earlier ones were flushed, then rolled back."""
    definition = frameworks.load_yaml(DEMO)
    definition["blocks"][0]["competencies"].append({"code": "C1", "title": "again"})
    before = _framework_rows(import_db)
    with pytest.raises(AcquisError, match="used twice"), import_db.session() as s:
        interchange.import_source(s, establishments.get(s, "univ-f"), interchange.Source(definition), True)
        pytest.fail("the import should have been refused")
    assert _framework_rows(import_db) == before
