"""Learner identifiers: an index that answers ingest's identifier lookup on its own

(establishment, system, value, learner): the unique key with the learner id the lookup wants,
so that it needs no visit to the table per identifier.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_learner_identifier_lookup",
        "learner_identifier",
        ["establishment_id", "system", "value", "learner_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_learner_identifier_lookup", table_name="learner_identifier")
