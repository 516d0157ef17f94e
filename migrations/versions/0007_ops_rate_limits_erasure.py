"""request ids on the outbox, ingest rate limits, learners' erasure

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))
    with op.batch_alter_table("establishment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ingest_rate_limit", sa.Integer(), nullable=True))
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "ingest_window",
        sa.Column("establishment_id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishment.id"],
            name=op.f("fk_ingest_window_establishment_id_establishment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("establishment_id", name=op.f("pk_ingest_window")),
    )
    op.create_table(
        "erased_identifier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("establishment_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishment.id"],
            name=op.f("fk_erased_identifier_establishment_id_establishment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erased_identifier")),
        sa.UniqueConstraint("establishment_id", "digest", name=op.f("uq_erased_identifier_establishment_id_digest")),
    )


def downgrade() -> None:
    op.drop_table("erased_identifier")
    op.drop_table("ingest_window")
    with op.batch_alter_table("learner", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    with op.batch_alter_table("establishment", schema=None) as batch_op:
        batch_op.drop_column("ingest_rate_limit")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_column("request_id")
