"""``sql.bulk_insert`` stores exactly what SQLAlchemy's own INSERT stores, on both backends.

On SQLite it bypasses SQLAlchemy's executemany for speed; these tests pin the values it writes
(text dates in SQLite's format, JSON, NULLs) and its RETURNING across several statements.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from acquis.core import establishments, sql
from acquis.core.db import Database
from acquis.core.models import OutboxMessage
from acquis.core.sql import bulk_insert, bulk_update, table

WHOLE_SECOND = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
WITH_MICROS = datetime(2026, 3, 1, 10, 0, 0, 123456, tzinfo=UTC)


def _row(est_id: int, key: str, when: datetime, plugin: str | None) -> dict[str, object]:
    return {
        "establishment_id": est_id,
        "topic": "emit_badge",
        "plugin": plugin,
        "payload": {"award_id": 1, "note": "é"},
        "dedupe_key": key,
        "status": "pending",
        "attempts": 0,
        "outcome_unknown": False,
        "available_at": when,
        "created_at": when,
    }


def test_bulk_insert_stores_what_sqlalchemy_insert_stores(db: Database) -> None:
    with db.session() as s:
        est, _ = establishments.create(s, "bulk", "Bulk")
        s.flush()
        # Several rows per statement, sharing some timestamps and not others.
        bulk_insert(
            s,
            table(OutboxMessage),
            [_row(est.id, "a", WHOLE_SECOND, None), _row(est.id, "b", WITH_MICROS, "obf")],
        )
        s.execute(
            table(OutboxMessage).insert(),
            [_row(est.id, "c", WHOLE_SECOND, None), _row(est.id, "d", WITH_MICROS, "obf")],
        )
    with db.session() as s:
        raw = {
            key: (available, payload, plugin)
            for key, available, payload, plugin in s.execute(
                text("SELECT dedupe_key, CAST(available_at AS TEXT), payload, plugin FROM outbox_message")
            )
        }
        assert raw["a"] == raw["c"]
        assert raw["b"] == raw["d"]
        loaded = {m.dedupe_key: m for m in s.scalars(select(OutboxMessage))}
    assert loaded["a"].available_at == WHOLE_SECOND and loaded["b"].available_at == WITH_MICROS
    assert loaded["a"].payload == {"award_id": 1, "note": "é"} and loaded["a"].plugin is None


def test_bulk_update_stores_what_sqlalchemy_update_stores(db: Database) -> None:
    with db.session() as s:
        est, _ = establishments.create(s, "bulk", "Bulk")
        s.flush()
        ids = {
            r.dedupe_key: r.id
            for r in bulk_insert(
                s,
                table(OutboxMessage),
                [_row(est.id, k, WHOLE_SECOND, "obf") for k in ("a", "b", "c")],
                "id",
                "dedupe_key",
            )
        }
        change = {"payload": {"award_id": 2, "note": "è"}, "available_at": WITH_MICROS, "plugin": None}
        bulk_update(s, table(OutboxMessage), [{"id": ids["a"], **change}])
        s.execute(table(OutboxMessage).update().where(table(OutboxMessage).c.id == ids["b"]).values(change))
    with db.session() as s:
        raw = {
            key: (available, payload, plugin)
            for key, available, payload, plugin in s.execute(
                text("SELECT dedupe_key, CAST(available_at AS TEXT), payload, plugin FROM outbox_message")
            )
        }
        loaded = {m.dedupe_key: m for m in s.scalars(select(OutboxMessage))}
    assert raw["a"] == raw["b"] != raw["c"]  # the row not named is left as it was
    assert loaded["a"].payload == {"award_id": 2, "note": "è"} and loaded["a"].available_at == WITH_MICROS
    assert loaded["a"].plugin is None and loaded["c"].plugin == "obf"


@pytest.mark.parametrize("read_back", ["by rowid", "by RETURNING"])
def test_returning_spans_statements_and_skips_conflicts(
    db: Database, monkeypatch: pytest.MonkeyPatch, read_back: str
) -> None:
    # Ten columns and a limit of 35 variables: three rows per statement on SQLite, where a
    # table keyed by its rowid is read back by rowid instead (made to look otherwise here).
    monkeypatch.setattr(sql, "_SQLITE_MAX_VARIABLES", 35)
    if read_back == "by RETURNING":
        monkeypatch.setattr(sql, "_rowid_column", lambda tbl: None)
    with db.session() as s:
        est, _ = establishments.create(s, "bulk", "Bulk")
        s.flush()
        first = bulk_insert(
            s,
            table(OutboxMessage),
            [_row(est.id, f"k{i}", WHOLE_SECOND, None) for i in range(0, 10)],
            "id",
            "dedupe_key",
            ignore_conflicts=True,
        )
        again = bulk_insert(
            s,
            table(OutboxMessage),
            [_row(est.id, f"k{i}", WHOLE_SECOND, None) for i in range(5, 15)],
            "id",
            "dedupe_key",
            ignore_conflicts=True,
        )
    assert sorted(r.dedupe_key for r in first) == sorted(f"k{i}" for i in range(10))
    assert sorted(r.dedupe_key for r in again) == sorted(f"k{i}" for i in range(10, 15))
    with db.session() as s:
        stored = {k: i for k, i in s.execute(select(OutboxMessage.dedupe_key, OutboxMessage.id))}
    assert stored == {r.dedupe_key: r.id for r in [*first, *again]}


@pytest.mark.parametrize(
    "when",
    [
        WHOLE_SECOND,
        WITH_MICROS,
        datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=2))),  # another zone
        datetime(999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),  # a year of 3 digits
        datetime(1, 1, 1, 5, 0, tzinfo=timezone(timedelta(hours=4))),
        datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC),  # UTC itself: formatted without converting
        datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(0))),  # UTC, as another object
    ],
)
def test_sqlite_dates_are_formatted_in_one_step_as_sqlalchemy_does(when: datetime) -> None:
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from acquis.core.models.base import UTCDateTime

    dialect = sqlite_dialect.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    assert sql._sqlite_utc_text(when) == process(when)


def test_rows_given_column_by_column_are_stored_as_rows_are(db: Database) -> None:
    """``bulk_insert_columns`` (ingest's path, values as tuples) writes what ``bulk_insert`` does."""
    with db.session() as s:
        est, _ = establishments.create(s, "bulk", "Bulk")
        s.flush()
        rows = [_row(est.id, "r1", WHOLE_SECOND, None), _row(est.id, "r2", WITH_MICROS, "obf")]
        bulk_insert(s, table(OutboxMessage), rows)
        columns = {name: tuple(r[name] for r in rows) for name in rows[0]}
        columns["dedupe_key"] = ("c1", "c2")
        returned = sql.bulk_insert_columns(s, table(OutboxMessage), columns, "dedupe_key", "id")
    assert sorted(returned["dedupe_key"]) == ["c1", "c2"] and len(returned["id"]) == 2
    with db.session() as s:
        stored = {
            key: rest
            for key, *rest in s.execute(
                text(
                    "SELECT dedupe_key, CAST(available_at AS TEXT), payload, plugin, establishment_id "
                    "FROM outbox_message"
                )
            )
        }
    assert stored["r1"] == stored["c1"] and stored["r2"] == stored["c2"]


def test_columns_of_unequal_lengths_are_refused_before_anything_is_written(db: Database) -> None:
    with db.session() as s:
        est, _ = establishments.create(s, "bulk", "Bulk")
        s.flush()
        columns = {name: [value] for name, value in _row(est.id, "x", WHOLE_SECOND, None).items()}
        columns["dedupe_key"] = ["x", "y"]
        with pytest.raises(ValueError, match="same length"):
            sql.bulk_insert_columns(s, table(OutboxMessage), columns)
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's rowids
def test_rows_past_the_largest_rowid_are_still_returned_as_inserted(db: Database) -> None:
    """Next to SQLite's largest rowid, new rows get rowids at random, below the largest: the
    rows inserted are then those RETURNING names, not those past the largest rowid."""
    with db.session() as s:
        est, _ = establishments.create(s, "bulk", "Bulk")
        s.flush()
        top = bulk_insert(
            s, table(OutboxMessage), [{**_row(est.id, "top", WHOLE_SECOND, None), "id": 2**63 - 3}]
        )
        assert top == []
        rows = bulk_insert(
            s,
            table(OutboxMessage),
            [_row(est.id, f"k{i}", WHOLE_SECOND, None) for i in range(6)],
            "id",
            "dedupe_key",
            ignore_conflicts=True,
        )
    with db.session() as s:
        stored = {k: i for k, i in s.execute(select(OutboxMessage.dedupe_key, OutboxMessage.id))}
    assert {r.dedupe_key: r.id for r in rows} == {k: i for k, i in stored.items() if k != "top"}
    assert len(rows) == 6


@pytest.mark.parametrize("conflicts", [False, True], ids=["all new", "some taken"])
def test_columns_returned_are_those_of_the_rows_inserted(db: Database, conflicts: bool) -> None:
    """All new, SQLite's ids are the next ones and the values those given; with conflicts they
    are read back. Either way each returned id is the row holding the returned values."""
    with db.session() as s:
        est, _ = establishments.create(s, "bulk", "Bulk")
        s.flush()
        if conflicts:
            bulk_insert(s, table(OutboxMessage), [_row(est.id, f"k{i}", WHOLE_SECOND, None) for i in (1, 3)])
        rows = [_row(est.id, f"k{i}", WHOLE_SECOND, None) for i in range(5)]
        columns = {name: [r[name] for r in rows] for name in rows[0]}
        got = sql.bulk_insert_columns(
            s, table(OutboxMessage), columns, "id", "dedupe_key", "establishment_id", ignore_conflicts=True
        )
    expected = ["k0", "k2", "k4"] if conflicts else [f"k{i}" for i in range(5)]
    assert sorted(got["dedupe_key"]) == expected
    assert list(got["establishment_id"]) == [est.id] * len(expected)
    with db.session() as s:
        stored = {i: k for i, k in s.execute(select(OutboxMessage.id, OutboxMessage.dedupe_key))}
    assert {i: stored[i] for i in got["id"]} == dict(zip(got["id"], got["dedupe_key"], strict=True))


def test_a_conflict_on_the_driver_path_raises_sqlalchemys_error_and_writes_nothing(db: Database) -> None:
    """The driver's own errors come out as SQLAlchemy's (the web layer tells them apart)."""
    with db.session() as s:
        est, _ = establishments.create(s, "bulk", "Bulk")
    with pytest.raises(IntegrityError), db.session() as s:
        rows = [_row(est.id, "same", WHOLE_SECOND, None), _row(est.id, "same", WITH_MICROS, None)]
        bulk_insert(s, table(OutboxMessage), rows)
    with pytest.raises(IntegrityError), db.session() as s:
        bulk_insert(s, table(OutboxMessage), rows, "id")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_reads_on_the_driver_raise_sqlalchemys_errors(db: Database) -> None:
    with pytest.raises(DBAPIError) as raised, db.session() as s:
        list(sql.driver_rows(s, "SELECT id FROM no_such_table", {}))
    assert not isinstance(raised.value, db.engine.dialect.loaded_dbapi.Error)  # wrapped, with the original
    assert isinstance(raised.value.orig, db.engine.dialect.loaded_dbapi.Error)


def test_a_table_with_autoincrement_is_not_read_back_by_rowid() -> None:
    """AUTOINCREMENT never reuses a rowid, so its next one may be past the largest plus one."""
    meta = MetaData()
    plain = Table("plain", meta, Column("id", Integer, primary_key=True), Column("v", String))
    counted = Table(
        "counted",
        meta,
        Column("id", Integer, primary_key=True),
        Column("v", String),
        sqlite_autoincrement=True,
    )
    assert sql._rowid_column(plain) == "id"
    assert sql._rowid_column(counted) is None
