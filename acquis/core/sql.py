"""Small SQL helpers that differ by backend (SQLite embedded, PostgreSQL scaled)."""

from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache, partial
from itertools import chain
from typing import Any, cast

import orjson
from sqlalchemy import Table, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from acquis.core.models.base import UTCDateTime

LOCK_NAMESPACE = 0x61637175  # "acqu": the first key of acquis' advisory locks
# SQLite's default limit on bound parameters per statement since 3.32 (2020).
_SQLITE_MAX_VARIABLES = 32766
_SQLITE_MAX_ROWID = 2**63 - 1


# ---- many values as one parameter --------------------------------------------------------------
#
# The reads of ingest name hundreds to thousands of ids. As ``IN (…)`` lists, SQLAlchemy renders
# a bind parameter per value and compiles a new statement each time, which cost more than the
# database spent answering. Here the values travel as one parameter (a JSON text read by
# ``json_each`` on SQLite, an array on PostgreSQL) in statements written for each backend, whose
# text does not change with the number of values, run straight on the driver.
#
# On PostgreSQL each value drives one index probe through ``unnest(…) CROSS JOIN LATERAL
# (… OFFSET 0)``: for ``= ANY(array)`` or a join with an unnest, the planner prefers scanning
# every row of the establishment (or the whole table) and filtering, a cost that grows with the
# data; the fence keeps the subquery from being flattened back into that plan.


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def array_param(session: Session, values: Iterable[Any]) -> Any:
    """``values`` as one parameter: an array on PostgreSQL, a JSON array (text) on SQLite."""
    listed = list(values)
    return listed if is_postgresql(session) else orjson.dumps(listed).decode()


@contextmanager
def driver_cursor(session: Session) -> Iterator[Any]:
    """A cursor of the driver itself, in the session's transaction, raising SQLAlchemy's errors.

    The driver's errors are wrapped as SQLAlchemy would have wrapped them, so that callers
    (the web layer answers an ``OperationalError`` with 503 and Retry-After) cannot tell which
    path a statement took.
    """
    connection = session.connection()
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        yield cursor
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            None, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect
        ) from exc
    finally:
        cursor.close()


def by_driver(sql: str) -> dict[str, str]:
    """``sql``, written with ``:name`` parameters, in each driver's own style, by dialect name:
    for the small reads of every batch, whose handling by SQLAlchemy cost more than their
    execution. Only the parameters are rewritten: a literal ``%`` would need doubling for
    PostgreSQL's driver, so keep such text in a parameter."""
    return {"sqlite": sql, "postgresql": re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql)}


def driver_first(session: Session, sql: str, params: dict[str, Any]) -> Any | None:
    """The first row of ``sql`` as ``driver_rows`` gives rows, or None when there is none."""
    with driver_cursor(session) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def driver_rows(session: Session, sql: str, params: dict[str, Any]) -> Iterator[Any]:
    """The rows of ``sql``, written for the session's driver, in the session's transaction.

    Values come back as the driver gives them, as plain tuples: no type processing (JSON is
    text on SQLite) and no result rows built by SQLAlchemy, which for ingest's reads of
    thousands of rows took longer than the database. They come one at a time, so that a row
    not kept is freed at once rather than held in a list with the others (live objects are
    what the garbage collector counts, docs/architecture.md). The statement runs when the
    rows are first asked for: read them there and then.
    """
    with driver_cursor(session) as cursor:
        cursor.execute(sql, params)
        yield from cursor


def table(model: type[Any]) -> Table:
    """A model's Core table, typed as such: bulk statements skip the ORM's per-row work."""
    return cast(Table, model.__table__)


def insert_ignore(session: Session, table: Table) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING for the session's backend."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    raise NotImplementedError(f"acquis supports SQLite and PostgreSQL, not {name}")


def lock_learners(session: Session, learner_ids: Iterable[int]) -> None:
    """Serialise decisions about the same learners across concurrent transactions.

    On PostgreSQL, transaction-scoped advisory locks taken in a fixed order (no deadlock);
    SQLite transactions are already serialised by BEGIN IMMEDIATE.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    ids = sorted(set(learner_ids))
    if not ids:
        return
    # One round trip for the whole batch; the ordered subquery makes the locks be taken in
    # learner order, as two batches sharing learners must do to avoid deadlocking each other.
    session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(:ns, id)) "
            "FROM (SELECT unnest(CAST(:ids AS integer[])) AS id ORDER BY 1) AS ordered"
        ),
        {"ns": LOCK_NAMESPACE, "ids": ids},
    )


Columns = dict[str, Sequence[Any]]  # rows as one sequence of values per column, all as long


def _columns(rows: Sequence[dict[str, Any]]) -> Columns:
    return {name: [r[name] for r in rows] for name in rows[0]}


def _pg_arrays(session: Session, tbl: Table, columns: Columns) -> tuple[list[str], list[str], dict[str, Any]]:
    """Column names, ``CAST(:pN AS type[])`` expressions and the array parameters for ``columns``."""
    dialect = session.get_bind().dialect
    names = list(columns)
    casts: list[str] = []
    params: dict[str, Any] = {}
    for i, (name, values) in enumerate(columns.items()):
        col = tbl.c[name]
        process = col.type.bind_processor(dialect)
        params[f"p{i}"] = list(values) if process is None else [process(v) for v in values]
        casts.append(f"CAST(:p{i} AS {col.type.compile(dialect=dialect)}[])")
    return names, casts, params


def _python_defaults_missing(tbl: Table, names: Collection[str]) -> bool:
    """Whether SQLAlchemy would fill a column of ``tbl`` left out of ``names`` (``default=``)."""
    return any(c.default is not None and c.name not in names for c in tbl.c if not c.primary_key)


_UTC_DATETIME = UTCDateTime()
_SQLITE_DIALECT = sqlite.dialect()
# SQLite refuses a compound SELECT of more than 500 branches.
_SQLITE_BRANCHES_PER_STATEMENT = 200


def sqlite_union_rows(session: Session, branch: str, groups: Sequence[dict[str, Any]]) -> Iterator[Any]:
    """SQLite: the rows of ``branch`` for each group, read as UNION ALLs of a bounded size.

    ``branch`` names its parameters ``:<key>{i}``; list values go as JSON (``array_param``). A
    batch touching more groups than one statement may hold is read in several; a row met in
    two groups comes back from both, in no promised order.
    """
    for start in range(0, len(groups), _SQLITE_BRANCHES_PER_STATEMENT):
        params: dict[str, Any] = {}
        branches: list[str] = []
        for i, group in enumerate(groups[start : start + _SQLITE_BRANCHES_PER_STATEMENT]):
            branches.append(branch.format(i=i))
            for key, value in group.items():
                params[f"{key}{i}"] = (
                    array_param(session, value) if isinstance(value, list | tuple) else value
                )
        yield from driver_rows(session, " UNION ALL ".join(branches), params)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """What ``UTCDateTime`` then SQLite's DATETIME make of ``value``, in one step.

    The type's own conversion (UTC, zone dropped), then the text SQLite's DATETIME stores,
    formatted here rather than through its generic processor: a batch has one distinct
    ``occurred_at`` per completion.
    (tests/integration/test_bulk_sql.py holds it to SQLAlchemy's own result.)
    """
    if value is not None and value.tzinfo is UTC:  # as parsed and made here: "+00:00" to drop
        return value.isoformat(" ", "microseconds")[:-6]
    v = _UTC_DATETIME.process_bind_param(value, _SQLITE_DIALECT)
    return None if v is None else v.isoformat(" ", "microseconds")


def _processed_columns(session: Session, tbl: Table, columns: Columns) -> list[Sequence[Any]]:
    """The DBAPI values of each of ``columns``, through each column type's bind processor."""
    dialect = session.get_bind().dialect
    processed: list[Sequence[Any]] = []
    for name, values in columns.items():
        # dialect_impl: the backend's own variant of the type (SQLite's DATETIME text format).
        process: Callable[[Any], Any] | None = tbl.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if isinstance(tbl.c[name].type, UTCDateTime) and dialect.name == "sqlite":
            process = _sqlite_utc_text
        first = values[0]
        if process is None:
            processed.append(values)
        elif all(v is first for v in values):
            # One value for the whole column ([now] * n: received_at, created_at, a status):
            # converted once. Looking each value up in a dictionary of those done cost more than
            # converting it, for a column of distinct ones (occurred_at).
            processed.append([process(first)] * len(values))
        else:
            processed.append([process(v) for v in values])
    return processed


def _sqlite_bulk_insert(
    session: Session,
    tbl: Table,
    columns: Columns,
    returning: Sequence[str],
    ignore_conflicts: bool,
) -> Columns:
    """``bulk_insert_columns`` on SQLite, straight to the driver with values converted once per
    column.

    SQLAlchemy's executemany builds a parameter dictionary per row, which cost more than the
    insert itself on ingest's batches. The same bind processors run here (so stored values are
    identical).

    With RETURNING, rows of a table keyed by its rowid go in through the driver's executemany,
    and SQLite gives each new row one more than the largest rowid; the transaction holds the
    database's only write lock. When every row went in (the driver counts them), their rowids
    are therefore the next ones in order, and the values returned are those given; when some
    conflicted (and took no rowid), the rows past the largest rowid seen before are read back.
    A multi-row VALUES statement with RETURNING, which any other table needs, took 1.7 times
    as long for a batch of 1,000 completions (SQLite builds a program as long as the
    statement's rows).
    """
    names = list(columns)
    preparer = session.get_bind().dialect.identifier_preparer
    target = preparer.format_table(tbl)
    processed = _processed_columns(session, tbl, columns)
    count = len(processed[0])
    head = f"INSERT INTO {target} ({', '.join(preparer.quote(n) for n in names)}) VALUES "  # noqa: S608
    one = "(" + ", ".join("?" * len(names)) + ")"
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    # The driver takes the rows one at a time from zip, which reuses one tuple for them all: a
    # list of them would be a thousand live objects per batch for the garbage collector to
    # count, and its full collections are set off by that count (docs/architecture.md).
    with driver_cursor(session) as cursor:  # the driver's own: no Result per row
        if not returning:
            cursor.executemany(head + one + tail, zip(*processed, strict=True))
            return {}
        returned = ", ".join(preparer.quote(c) for c in returning)
        rowid = _rowid_column(tbl)
        if rowid is not None and rowid not in columns:
            key = preparer.quote(rowid)
            last = cursor.execute(f"SELECT max({key}) FROM {target}").fetchone()[0] or 0  # noqa: S608
            if last <= _SQLITE_MAX_ROWID - count:  # beyond, SQLite picks rowids at random
                cursor.executemany(head + one + tail, zip(*processed, strict=True))
                # Values stored as given (no bind processing) come back as given.
                given = {
                    n: columns[n] for n, done in zip(names, processed, strict=True) if done is columns[n]
                }
                if cursor.rowcount == count and all(c == rowid or c in given for c in returning):
                    return {
                        c: range(last + 1, last + 1 + count) if c == rowid else given[c] for c in returning
                    }
                cursor.execute(
                    f"SELECT {returned} FROM {target} WHERE {key} > ? ORDER BY {key}",  # noqa: S608
                    (last,),
                )
                return _transposed(cursor, returning)
        values = list(zip(*processed, strict=True))
        tail += f" RETURNING {returned}"
        per_statement = max(1, _SQLITE_MAX_VARIABLES // len(names))
        rows: list[Sequence[Any]] = []
        for start in range(0, len(values), per_statement):
            chunk = values[start : start + per_statement]
            cursor.execute(head + ", ".join([one] * len(chunk)) + tail, tuple(chain.from_iterable(chunk)))
            rows.extend(cursor.fetchall())
        return _transposed(rows, returning)


def _transposed(rows: Iterable[Sequence[Any]], names: Sequence[str]) -> Columns:
    """Rows (of ``names``, in that order) as one list per name."""
    out: dict[str, list[Any]] = {n: [] for n in names}
    appends = [out[n].append for n in names]
    for row in rows:
        for append, value in zip(appends, row, strict=True):
            append(value)
    return out  # type: ignore[return-value]  # lists are sequences


def _rowid_column(tbl: Table) -> str | None:
    """The column that is ``tbl``'s rowid on SQLite (an INTEGER PRIMARY KEY, which without
    AUTOINCREMENT takes one more than the largest), if it has one."""
    keys = list(tbl.primary_key.columns)
    if (
        len(keys) == 1
        and keys[0].type.compile(dialect=_SQLITE_DIALECT) == "INTEGER"
        and not tbl.dialect_options["sqlite"].get("autoincrement")
    ):
        return str(keys[0].name)
    return None


@cache
def _returned_row(names: tuple[str, ...]) -> Callable[[Sequence[Any]], Any]:
    """A row type with ``names`` as attributes, as SQLAlchemy's rows give them to callers."""
    row: Any = namedtuple("Returned", names)  # type: ignore[misc]  # its fields are known only here
    # tuple.__new__ is what row._make calls, less the length check (the query fixes the length),
    # and bound with partial it runs without a Python frame per row.
    return partial(tuple.__new__, row)


def bulk_insert(
    session: Session,
    tbl: Table,
    rows: Sequence[dict[str, Any]],
    *returning: str,
    ignore_conflicts: bool = False,
) -> list[Any]:
    """Insert many rows in one statement; returns the ``returning`` columns of inserted rows.

    On PostgreSQL, ``INSERT … SELECT FROM unnest(arrays)``: one statement whose parameters are
    one array per column, several times faster than row-by-row VALUES with RETURNING. The rows
    returned are those inserted (conflicting ones are skipped when ``ignore_conflicts``); their
    order is not promised, so return a natural key along with generated ids.
    """
    if not rows:
        return []
    got = bulk_insert_columns(session, tbl, _columns(rows), *returning, ignore_conflicts=ignore_conflicts)
    if not returning:
        return []
    return list(map(_returned_row(returning), zip(*(got[n] for n in returning), strict=True)))


def bulk_insert_columns(
    session: Session,
    tbl: Table,
    columns: Columns,
    *returning: str,
    ignore_conflicts: bool = False,
) -> Columns:
    """``bulk_insert`` of rows given column by column, returning columns too (one sequence per
    name in ``returning``, all as long, in no promised order; empty without ``returning``).

    For a caller whose values are already in columns (ingest transposes its facts in one
    step), this spares building a dictionary per row only to take it apart again, and a row
    object per inserted row only to read two of its values.
    """
    count = len(next(iter(columns.values()), ()))
    if not count:
        return {n: [] for n in returning}
    if any(len(values) != count for values in columns.values()):
        raise ValueError("bulk_insert_columns: the columns are not all of the same length")
    if session.get_bind().dialect.name == "sqlite" and not _python_defaults_missing(tbl, columns):
        return _sqlite_bulk_insert(session, tbl, columns, returning, ignore_conflicts)
    if session.get_bind().dialect.name != "postgresql":
        rows = [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        stmt = insert_ignore(session, tbl) if ignore_conflicts else tbl.insert()
        if returning:
            return _transposed(
                session.execute(stmt.returning(*(tbl.c[c] for c in returning)), rows), returning
            )
        session.execute(stmt, rows)
        return {}
    names, casts, params = _pg_arrays(session, tbl, columns)
    target = session.get_bind().dialect.identifier_preparer.format_table(tbl)
    sql = f"INSERT INTO {target} ({', '.join(names)}) SELECT * FROM unnest({', '.join(casts)})"  # noqa: S608
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
        return _transposed(session.execute(text(sql), params), returning)
    session.execute(text(sql), params)
    return {}


def bulk_update(session: Session, tbl: Table, rows: Sequence[dict[str, Any]], key: str = "id") -> None:
    """Update many rows by ``key``; each row gives the key and the new values of the same columns."""
    if not rows:
        return
    if session.get_bind().dialect.name == "sqlite":
        # Straight to the driver, values through the same bind processors, as inserts go.
        given = _columns(rows)
        names = [c for c in given if c != key]
        preparer = session.get_bind().dialect.identifier_preparer
        sets = ", ".join(f"{preparer.quote(n)} = ?" for n in names)
        sql = f"UPDATE {preparer.format_table(tbl)} SET {sets} WHERE {preparer.quote(key)} = ?"  # noqa: S608
        processed = _processed_columns(session, tbl, {**{n: given[n] for n in names}, key: given[key]})
        with driver_cursor(session) as cursor:
            cursor.executemany(sql, zip(*processed, strict=True))
        return
    if session.get_bind().dialect.name != "postgresql":
        columns = [c for c in rows[0] if c != key]
        stmt = (
            tbl.update()
            .where(tbl.c[key] == bindparam(f"k_{key}"))
            .values({c: bindparam(f"v_{c}", type_=tbl.c[c].type) for c in columns})
        )
        session.execute(stmt, [{f"k_{key}": r[key], **{f"v_{c}": r[c] for c in columns}} for r in rows])
        return
    names, casts, params = _pg_arrays(session, tbl, _columns(rows))
    quoted_key = session.get_bind().dialect.identifier_preparer.quote(tbl.c[key].name)
    sets = ", ".join(f"{n} = s.{n}" for n in names if n != quoted_key)
    target = session.get_bind().dialect.identifier_preparer.format_table(tbl)
    sql = (
        f"UPDATE {target} AS t SET {sets} "  # noqa: S608 - identifiers from the table, values bound
        f"FROM unnest({', '.join(casts)}) AS s({', '.join(names)}) WHERE t.{quoted_key} = s.{quoted_key}"
    )
    session.execute(text(sql), params)
