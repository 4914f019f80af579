"""Star volunteers: rules per region (inherited), applications that become awarded stars, objections.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 04:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('star_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('thresholds_hours', sa.JSON(), nullable=True),
    sa.Column('min_months', sa.Integer(), nullable=True),
    sa.Column('sources', sa.JSON(), nullable=True),
    sa.Column('approval_levels', sa.JSON(), nullable=True),
    sa.Column('publicity_days', sa.Integer(), nullable=True),
    sa.Column('publicity_working_days', sa.Boolean(), nullable=True),
    sa.Column('updated_by_account_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('min_months IS NULL OR (min_months >= 0 AND min_months <= 240)', name=op.f('ck_star_rules_min_months_range')),
    sa.CheckConstraint('publicity_days IS NULL OR (publicity_days >= 1 AND publicity_days <= 60)', name=op.f('ck_star_rules_publicity_days_range')),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_star_rules_region_id_regions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_account_id'], ['accounts.id'], name=op.f('fk_star_rules_updated_by_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_star_rules')),
    sa.UniqueConstraint('region_id', name=op.f('uq_star_rules_region_id'))
    )
    op.create_table('star_applications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('origin', sa.String(length=32), nullable=False),
    sa.Column('approval_region_id', sa.Integer(), nullable=False),
    sa.Column('qualifying_minutes', sa.Integer(), nullable=False),
    sa.Column('months_registered', sa.Integer(), nullable=False),
    sa.Column('rules', sa.JSON(), nullable=False),
    sa.Column('opened_by_account_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_by_account_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('publicity_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('awarded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_account_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.CheckConstraint('level >= 1 AND level <= 5', name=op.f('ck_star_applications_level_range')),
    sa.ForeignKeyConstraint(['approval_region_id'], ['regions.id'], name=op.f('fk_star_applications_approval_region_id_regions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['opened_by_account_id'], ['accounts.id'], name=op.f('fk_star_applications_opened_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reviewed_by_account_id'], ['accounts.id'], name=op.f('fk_star_applications_reviewed_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_account_id'], ['accounts.id'], name=op.f('fk_star_applications_revoked_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_star_applications_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_star_applications'))
    )
    with op.batch_alter_table('star_applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_star_applications_volunteer_id'), ['volunteer_id'], unique=False)
        batch_op.create_index('ix_star_applications_status_publicity_ends_at', ['status', 'publicity_ends_at'], unique=False)
        batch_op.create_index('ix_star_applications_approval_region_id_status', ['approval_region_id', 'status'], unique=False)
        # One open application and one live award per volunteer and level: the database says so, not only Python.
        batch_op.create_index('uq_star_applications_open', ['volunteer_id', 'level'], unique=True, postgresql_where=sa.text("status IN ('pending', 'publicity')"), sqlite_where=sa.text("status IN ('pending', 'publicity')"))
        batch_op.create_index('uq_star_applications_awarded', ['volunteer_id', 'level'], unique=True, postgresql_where=sa.text("status = 'awarded'"), sqlite_where=sa.text("status = 'awarded'"))

    op.create_table('star_objections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_star_objections_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['application_id'], ['star_applications.id'], name=op.f('fk_star_objections_application_id_star_applications'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_star_objections_decided_by_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_star_objections'))
    )
    with op.batch_alter_table('star_objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_star_objections_application_id'), ['application_id'], unique=False)


def downgrade():
    with op.batch_alter_table('star_objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_star_objections_application_id'))
    op.drop_table('star_objections')
    with op.batch_alter_table('star_applications', schema=None) as batch_op:
        batch_op.drop_index('uq_star_applications_awarded')
        batch_op.drop_index('uq_star_applications_open')
        batch_op.drop_index('ix_star_applications_approval_region_id_status')
        batch_op.drop_index('ix_star_applications_status_publicity_ends_at')
        batch_op.drop_index(batch_op.f('ix_star_applications_volunteer_id'))
    op.drop_table('star_applications')
    op.drop_table('star_rules')
