"""Catalogue stamp: a token redrawn by triggers whenever the tables the rules are built from change

Lets ingest keep an establishment's rules catalogue across batches, in every process, for as
long as the token stays (acquis.core.catalogue).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# As of this revision (acquis.core.models.stamps.CATALOGUE_TABLES may grow in a later one).
_TABLES = ("framework", "competency", "level", "validation_rule", "rule_activity", "badge_class", "partner")
_OPERATIONS = ("INSERT", "UPDATE", "DELETE")
_PG_TOKEN = "floor(random() * 4.0e18)::bigint"
# PostgreSQL: once per statement, before it takes any row lock, so that a transaction changing
# the rules always locks the stamp's row first and two such transactions cannot deadlock.
_PG_FUNCTION = f"""
CREATE FUNCTION catalogue_stamp_redraw() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalogue_stamp SET token = {_PG_TOKEN};
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "catalogue_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalogue_stamp")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"INSERT INTO catalogue_stamp (id, token) VALUES (1, {_PG_TOKEN})")
        op.execute(_PG_FUNCTION)
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER catalogue_stamp_{table} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION catalogue_stamp_redraw()"
            )
        return
    op.execute("INSERT INTO catalogue_stamp (id, token) VALUES (1, random())")
    for table in _TABLES:
        for operation in _OPERATIONS:
            op.execute(
                f"CREATE TRIGGER catalogue_stamp_{table}_{operation.lower()} AFTER {operation} ON {table} "
                "BEGIN UPDATE catalogue_stamp SET token = random(); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER catalogue_stamp_{table} ON {table}")
        op.execute("DROP FUNCTION catalogue_stamp_redraw()")
    else:
        for table in _TABLES:
            for operation in _OPERATIONS:
                op.execute(f"DROP TRIGGER catalogue_stamp_{table}_{operation.lower()}")
    op.drop_table("catalogue_stamp")
