"""programmes and certifications

Points programmes (programme, periods, actions, activity tags, earned points, teachers' grants,
semester decisions) and certifications (competency ratings, certification results).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 04:12:05.680890
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
import acquis.core.models.base


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('programme',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('categories', sa.JSON(), nullable=False),
    sa.Column('axes', sa.JSON(), nullable=False),
    sa.Column('routes', sa.JSON(), nullable=False),
    sa.Column('grading', sa.JSON(), nullable=False),
    sa.Column('created_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_programme_establishment_id_establishment'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme')),
    sa.UniqueConstraint('establishment_id', 'code', name=op.f('uq_programme_establishment_id_code'))
    )
    op.create_table('certification_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('framework_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=False),
    sa.Column('passed_blocks', sa.JSON(), nullable=False),
    sa.Column('unrated', sa.JSON(), nullable=False),
    sa.Column('computed_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_certification_result_establishment_id_establishment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_certification_result_framework_id_framework'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_certification_result_learner_id_learner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certification_result')),
    sa.UniqueConstraint('framework_id', 'learner_id', name=op.f('uq_certification_result_framework_id_learner_id'))
    )
    op.create_index(op.f('ix_certification_result_learner_id'), 'certification_result', ['learner_id'], unique=False)
    op.create_table('programme_action',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('title', sa.String(length=512), nullable=False),
    sa.Column('category', sa.String(length=64), nullable=False),
    sa.Column('axis', sa.String(length=64), nullable=False),
    sa.Column('min_points', sa.Integer(), nullable=False),
    sa.Column('max_points', sa.Integer(), nullable=False),
    sa.Column('mandatory', sa.Boolean(), nullable=False),
    sa.Column('mandatory_periods', sa.JSON(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_programme_action_programme_id_programme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_action')),
    sa.UniqueConstraint('programme_id', 'code', name=op.f('uq_programme_action_programme_id_code'))
    )
    op.create_table('programme_period',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('title', sa.String(length=255), nullable=False),
    sa.Column('starts_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_programme_period_programme_id_programme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programme_period')),
    sa.UniqueConstraint('programme_id', 'code', name=op.f('uq_programme_period_programme_id_code'))
    )
    op.create_table('action_tag',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=255), nullable=False),
    sa.Column('created_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['programme_action.id'], name=op.f('fk_action_tag_action_id_programme_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_action_tag_activity_id_activity'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_action_tag_establishment_id_establishment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_action_tag_programme_id_programme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_action_tag')),
    sa.UniqueConstraint('programme_id', 'activity_id', name=op.f('uq_action_tag_programme_id_activity_id'))
    )
    op.create_index(op.f('ix_action_tag_activity_id'), 'action_tag', ['activity_id'], unique=False)
    op.create_index(op.f('ix_action_tag_establishment_id'), 'action_tag', ['establishment_id'], unique=False)
    op.create_table('points_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('granted_by', sa.String(length=255), nullable=False),
    sa.Column('granted_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('revoked_by', sa.String(length=255), nullable=True),
    sa.Column('revoked_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['action_id'], ['programme_action.id'], name=op.f('fk_points_grant_action_id_programme_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_points_grant_establishment_id_establishment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_points_grant_learner_id_learner'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['period_id'], ['programme_period.id'], name=op.f('fk_points_grant_period_id_programme_period'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_points_grant_programme_id_programme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_grant'))
    )
    op.create_index('ix_points_grant_learner_period', 'points_grant', ['learner_id', 'period_id'], unique=False)
    op.create_table('semester_decision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('route', sa.String(length=128), nullable=True),
    sa.Column('grade_centi', sa.Integer(), nullable=True),
    sa.Column('passed', sa.Boolean(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.String(length=255), nullable=False),
    sa.Column('decided_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_by', sa.String(length=255), nullable=True),
    sa.Column('withdrawn_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_semester_decision_establishment_id_establishment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_semester_decision_learner_id_learner'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['period_id'], ['programme_period.id'], name=op.f('fk_semester_decision_period_id_programme_period'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_semester_decision_programme_id_programme'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_semester_decision')),
    sa.UniqueConstraint('period_id', 'learner_id', 'kind', name=op.f('uq_semester_decision_period_id_learner_id_kind'))
    )
    op.create_index(op.f('ix_semester_decision_learner_id'), 'semester_decision', ['learner_id'], unique=False)
    op.create_table('competency_rating',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('framework_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('competency_id', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('rated_by', sa.String(length=255), nullable=False),
    sa.Column('rated_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=False),
    sa.Column('history', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['competency_id'], ['competency.id'], name=op.f('fk_competency_rating_competency_id_competency'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_competency_rating_establishment_id_establishment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['framework_id'], ['framework.id'], name=op.f('fk_competency_rating_framework_id_framework'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_competency_rating_learner_id_learner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_competency_rating')),
    sa.UniqueConstraint('learner_id', 'competency_id', name=op.f('uq_competency_rating_learner_id_competency_id'))
    )
    op.create_index(op.f('ix_competency_rating_framework_id'), 'competency_rating', ['framework_id'], unique=False)
    op.create_table('earned_points',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('establishment_id', sa.Integer(), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('learner_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.Column('action_id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=True),
    sa.Column('completion_id', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('updated_at', acquis.core.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['action_id'], ['programme_action.id'], name=op.f('fk_earned_points_action_id_programme_action'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_earned_points_activity_id_activity'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['completion_id'], ['completion.id'], name=op.f('fk_earned_points_completion_id_completion'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['establishment_id'], ['establishment.id'], name=op.f('fk_earned_points_establishment_id_establishment'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['learner_id'], ['learner.id'], name=op.f('fk_earned_points_learner_id_learner'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['period_id'], ['programme_period.id'], name=op.f('fk_earned_points_period_id_programme_period'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['programme_id'], ['programme.id'], name=op.f('fk_earned_points_programme_id_programme'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tag_id'], ['action_tag.id'], name=op.f('fk_earned_points_tag_id_action_tag'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_earned_points')),
    sa.UniqueConstraint('learner_id', 'tag_id', name=op.f('uq_earned_points_learner_id_tag_id'))
    )
    op.create_index('ix_earned_points_learner_period', 'earned_points', ['learner_id', 'period_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_earned_points_learner_period', table_name='earned_points')
    op.drop_table('earned_points')
    op.drop_index(op.f('ix_competency_rating_framework_id'), table_name='competency_rating')
    op.drop_table('competency_rating')
    op.drop_index(op.f('ix_semester_decision_learner_id'), table_name='semester_decision')
    op.drop_table('semester_decision')
    op.drop_index('ix_points_grant_learner_period', table_name='points_grant')
    op.drop_table('points_grant')
    op.drop_index(op.f('ix_action_tag_establishment_id'), table_name='action_tag')
    op.drop_index(op.f('ix_action_tag_activity_id'), table_name='action_tag')
    op.drop_table('action_tag')
    op.drop_table('programme_period')
    op.drop_table('programme_action')
    op.drop_index(op.f('ix_certification_result_learner_id'), table_name='certification_result')
    op.drop_table('certification_result')
    op.drop_table('programme')
