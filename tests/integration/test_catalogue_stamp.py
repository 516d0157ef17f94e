"""Ingest keeps an establishment's rules across batches only while the catalogue stamp stays.

The stamp is redrawn by database triggers on every table the catalogue is built from; these
tests hold ingest to the rules as they are now, after changes made elsewhere or rolled back.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from acquis.core import catalogue, partners, tags
from acquis.core.db import Database
from acquis.core.ingest import ingest
from acquis.core.models import CATALOGUE_TABLES, CatalogueStamp, Establishment, Validation
from acquis.core.plugins import PluginHost
from acquis.core.xapi import parse_batch
from tests import helpers

# A column each table can be "updated" to itself by: the write still fires its triggers.
_SELF_UPDATE = {table: "id" for table in CATALOGUE_TABLES} | {"rule_activity": "rule_id"}


def _token(db: Database) -> int | None:
    with db.session() as s:
        return s.scalar(select(CatalogueStamp.token))


def _ingest(db: Database, host: PluginHost, est_id: int, user: str, cmid: int) -> None:
    facts = [f for f in parse_batch([helpers.statement(user, cmid)], datetime.now(UTC)) if f]
    with db.session() as s:
        ingest(s, host, est_id, facts)


def _tag(s: Session, est_id: int, cmid: int) -> None:
    """Activity ``cmid`` also validates C1 Novice (as ``helpers.tag`` does), in ``s``'s transaction."""
    est = s.get(Establishment, est_id)
    assert est is not None
    tags.add_rule(
        s, est, tags.find_level(s, est, "C1", "Novice"), [f"{helpers.MOODLE}/mod/book/view.php?id={cmid}"]
    )


def _validations(db: Database, est_id: int) -> int:
    with db.session() as s:
        return int(s.scalar(select(func.count()).where(Validation.establishment_id == est_id)) or 0)


@pytest.fixture
def est_id(db: Database, host: PluginHost) -> int:
    """An establishment with a row in every catalogue table: rule 1 validates C1 Novice."""
    with db.session() as s:
        tenant = helpers.make_tenant(s, host)
        helpers.tag(s, tenant, [1])
        partners.create(s, tenant.est, "asso", "Association", ["C1"])
        return tenant.est.id


def test_every_catalogue_table_has_a_trigger_for_each_write(db: Database, backend: str) -> None:
    """A migration that rebuilds one of these tables (SQLite's batch mode does) drops its triggers."""
    with db.session() as s:
        if backend == "sqlite":
            found = {
                (table, op)
                for table, name in s.execute(
                    text("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
                )
                for op in ("insert", "update", "delete")
                if name == f"catalogue_stamp_{table}_{op}"
            }
        else:
            found = {
                (table, op)
                for table, insert, update, delete in s.execute(
                    text(
                        "SELECT c.relname, (t.tgtype & 4) > 0, (t.tgtype & 16) > 0, (t.tgtype & 8) > 0 "
                        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                        "WHERE t.tgname = 'catalogue_stamp_' || c.relname"
                    )
                )
                for op, fires in (("insert", insert), ("update", update), ("delete", delete))
                if fires
            }
    assert found == {(t, op) for t in CATALOGUE_TABLES for op in ("insert", "update", "delete")}


@pytest.mark.parametrize("table", CATALOGUE_TABLES)
def test_updating_or_deleting_rows_of_a_catalogue_table_redraws_the_stamp(
    db: Database, est_id: int, table: str
) -> None:
    column = _SELF_UPDATE[table]
    for statement in (f"UPDATE {table} SET {column} = {column}", f"DELETE FROM {table}"):
        before = _token(db)
        with db.session() as s:
            assert s.execute(text(statement)).rowcount > 0
        assert _token(db) not in (before, None), statement


def test_deleting_an_establishment_redraws_the_stamp_through_its_cascades(db: Database, est_id: int) -> None:
    before = _token(db)
    with db.session() as s:
        s.execute(text("DELETE FROM establishment WHERE id = :e"), {"e": est_id})
    assert _token(db) != before


def test_a_kept_catalogue_serves_the_next_batch_until_the_rules_change(
    db: Database, host: PluginHost, est_id: int
) -> None:
    with db.session() as s:
        first = catalogue.current(s, est_id)
        assert catalogue.current(s, est_id) is first
    _ingest(db, host, est_id, "1", 2)  # activity 2 is tagged to nothing yet
    assert _validations(db, est_id) == 0
    with db.session() as s:
        _tag(s, est_id, 2)  # in another transaction, as a teacher's page would
    with db.session() as s:
        assert catalogue.current(s, est_id) is not first
    _ingest(db, host, est_id, "2", 2)
    assert _validations(db, est_id) == 1


def test_rules_changed_then_rolled_back_are_not_kept(db: Database, host: PluginHost, est_id: int) -> None:
    _ingest(db, host, est_id, "0", 3)  # activity 3 is known (its id outlives the rollback), untagged
    with pytest.raises(RuntimeError), db.session() as s:
        _tag(s, est_id, 3)
        facts = [f for f in parse_batch([helpers.statement("1", 3)], datetime.now(UTC)) if f]
        ingest(s, host, est_id, facts)  # the new rule applies within its own transaction…
        assert s.scalar(select(func.count()).where(Validation.establishment_id == est_id)) == 1
        raise RuntimeError("the page failed: nothing of it stays")
    _ingest(db, host, est_id, "2", 3)  # …and not once it is rolled back
    assert _validations(db, est_id) == 0
