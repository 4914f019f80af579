"""Points earning rules per region (inherited), what each service record earned, ranking consent,
and the activity's points grade.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 04:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('points_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('points_per_hour', sa.Integer(), nullable=True),
    sa.Column('grade_coefficients', sa.JSON(), nullable=True),
    sa.Column('sources', sa.JSON(), nullable=True),
    sa.Column('yearly_cap', sa.Integer(), nullable=True),
    sa.Column('expiry_months', sa.Integer(), nullable=True),
    sa.Column('gift_max_per_gift', sa.Integer(), nullable=True),
    sa.Column('gift_max_per_year', sa.Integer(), nullable=True),
    sa.Column('bonus_cap_per_activity', sa.Integer(), nullable=True),
    sa.Column('updated_by_account_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points_per_hour IS NULL OR (points_per_hour >= 0 AND points_per_hour <= 1000)', name=op.f('ck_points_rules_points_per_hour_range')),
    sa.CheckConstraint('yearly_cap IS NULL OR yearly_cap >= 0', name=op.f('ck_points_rules_yearly_cap_range')),
    sa.CheckConstraint('expiry_months IS NULL OR (expiry_months >= 0 AND expiry_months <= 240)', name=op.f('ck_points_rules_expiry_months_range')),
    sa.CheckConstraint('gift_max_per_gift IS NULL OR gift_max_per_gift >= 0', name=op.f('ck_points_rules_gift_max_per_gift_range')),
    sa.CheckConstraint('gift_max_per_year IS NULL OR gift_max_per_year >= 0', name=op.f('ck_points_rules_gift_max_per_year_range')),
    sa.CheckConstraint('bonus_cap_per_activity IS NULL OR bonus_cap_per_activity >= 0', name=op.f('ck_points_rules_bonus_cap_per_activity_range')),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_points_rules_region_id_regions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_account_id'], ['accounts.id'], name=op.f('fk_points_rules_updated_by_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_rules')),
    sa.UniqueConstraint('region_id', name=op.f('uq_points_rules_region_id'))
    )
    op.create_table('points_earnings',
    sa.Column('record_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('computed_points', sa.BigInteger(), nullable=False),
    sa.Column('note', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_points_earnings_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['record_id'], ['service_records.id'], name=op.f('fk_points_earnings_record_id_service_records'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_points_earnings_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('record_id', name=op.f('pk_points_earnings'))
    )
    with op.batch_alter_table('points_earnings', schema=None) as batch_op:
        batch_op.create_index('ix_points_earnings_volunteer_id_activity_id', ['volunteer_id', 'activity_id'], unique=False)
        batch_op.create_index('ix_points_earnings_volunteer_id_year', ['volunteer_id', 'year'], unique=False)
    op.create_table('points_ranking_consents',
    sa.Column('volunteer_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('consented', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_points_ranking_consents_volunteer_id_volunteers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('volunteer_id', name=op.f('pk_points_ranking_consents'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points_grade', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_column('points_grade')
    op.drop_table('points_ranking_consents')
    with op.batch_alter_table('points_earnings', schema=None) as batch_op:
        batch_op.drop_index('ix_points_earnings_volunteer_id_year')
        batch_op.drop_index('ix_points_earnings_volunteer_id_activity_id')
    op.drop_table('points_earnings')
    op.drop_table('points_rules')
