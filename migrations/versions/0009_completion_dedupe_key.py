"""Completions keyed by (learner, activity, 64 bits of the content hash); statement ids indexed where given

The unique index over (establishment, whole content hash) and the index over (learner, activity)
become one unique index over (learner, activity, dedupe_key); the unique index over the sender's
statement id becomes partial (rows without one are not indexed). Ingest wrote three indexes at
random places per completion, now one and a third.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from acquis.core.models.records import dedupe_key

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_NOT_NULL_SOURCE = sa.text("source_id IS NOT NULL")
_BATCH = 10_000


def _backfill() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("UPDATE completion SET dedupe_key = ('x' || left(content_hash, 16))::bit(64)::bigint")
        )
        return
    last = 0
    while True:
        rows = conn.execute(
            sa.text("SELECT id, content_hash FROM completion WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": _BATCH},
        ).all()
        if not rows:
            return
        conn.execute(
            sa.text("UPDATE completion SET dedupe_key = :k WHERE id = :id"),
            [{"id": r.id, "k": dedupe_key(r.content_hash)} for r in rows],
        )
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("completion", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.BigInteger(), nullable=True))
    _backfill()
    with op.batch_alter_table("completion", schema=None) as batch_op:
        batch_op.alter_column("dedupe_key", existing_type=sa.BigInteger(), nullable=False)
        batch_op.drop_constraint("uq_completion_establishment_id_content_hash", type_="unique")
        batch_op.drop_constraint("uq_completion_establishment_id_source_id", type_="unique")
        batch_op.drop_index("ix_completion_learner_activity")
        batch_op.create_unique_constraint(
            op.f("uq_completion_learner_id_activity_id_dedupe_key"), ["learner_id", "activity_id", "dedupe_key"]
        )
    op.create_index(
        "uq_completion_establishment_id_source_id",
        "completion",
        ["establishment_id", "source_id"],
        unique=True,
        sqlite_where=_NOT_NULL_SOURCE,
        postgresql_where=_NOT_NULL_SOURCE,
    )


def downgrade() -> None:
    op.drop_index("uq_completion_establishment_id_source_id", table_name="completion")
    with op.batch_alter_table("completion", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_completion_learner_id_activity_id_dedupe_key"), type_="unique")
        batch_op.create_index("ix_completion_learner_activity", ["learner_id", "activity_id"], unique=False)
        batch_op.create_unique_constraint(
            op.f("uq_completion_establishment_id_source_id"), ["establishment_id", "source_id"]
        )
        batch_op.create_unique_constraint(
            op.f("uq_completion_establishment_id_content_hash"), ["establishment_id", "content_hash"]
        )
        batch_op.drop_column("dedupe_key")
