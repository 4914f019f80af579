"""Teams: join mode and memberships; activities, sign-ups, check-ins, scans, QR codes, service records, corrections.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 12:16:16.288611

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():

    op.create_table('activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=True),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('themes', sa.JSON(), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('checkin_radius_m', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('seats_taken', sa.Integer(), nullable=False),
    sa.Column('signup_mode', sa.String(length=32), nullable=False),
    sa.Column('required_skills', sa.JSON(), nullable=False),
    sa.Column('min_age', sa.Integer(), nullable=True),
    sa.Column('risk_level', sa.String(length=32), nullable=False),
    sa.Column('requires_insurance', sa.Boolean(), nullable=False),
    sa.Column('credit_margin_minutes', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('evaluation', sa.String(length=32), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('created_by_account_id', sa.Integer(), nullable=True),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('capacity >= 1', name=op.f('ck_activities_capacity_positive')),
    sa.CheckConstraint('ends_at > starts_at', name=op.f('ck_activities_ends_after_start')),
    sa.CheckConstraint('seats_taken >= 0 AND seats_taken <= capacity', name=op.f('ck_activities_seats_within_capacity')),
    sa.ForeignKeyConstraint(['created_by_account_id'], ['accounts.id'], name=op.f('fk_activities_created_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_activities_organization_id_organizations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_activities_region_id_regions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_activities_team_id_teams'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activities'))
    )
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activities_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_region_id'), ['region_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_starts_at'), ['starts_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_activities_team_id'), ['team_id'], unique=False)

    op.create_table('team_memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_team_memberships_decided_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['team_id'], ['teams.id'], name=op.f('fk_team_memberships_team_id_teams'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_team_memberships_volunteer_id_volunteers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_memberships')),
    sa.UniqueConstraint('team_id', 'volunteer_id', name=op.f('uq_team_memberships_team_id_volunteer_id'))
    )
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_memberships_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_memberships_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('activity_qr_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('scene', sa.String(length=64), nullable=False),
    sa.Column('ticket', sa.String(length=200), nullable=False),
    sa.Column('url', sa.String(length=300), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_activity_qr_codes_activity_id_activities'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_qr_codes')),
    sa.UniqueConstraint('activity_id', 'day', name=op.f('uq_activity_qr_codes_activity_id_day')),
    sa.UniqueConstraint('scene', name=op.f('uq_activity_qr_codes_scene'))
    )
    op.create_table('checkin_scans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('volunteer_id', sa.Integer(), nullable=True),
    sa.Column('result', sa.String(length=40), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('client_scanned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_checkin_scans_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_checkin_scans_activity_id_activities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_checkin_scans_volunteer_id_volunteers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkin_scans')),
    sa.UniqueConstraint('activity_id', 'nonce', name=op.f('uq_checkin_scans_activity_id_nonce'))
    )
    op.create_table('signups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('waitlisted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_signups_activity_id_activities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_signups_decided_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_signups_volunteer_id_volunteers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signups')),
    sa.UniqueConstraint('activity_id', 'volunteer_id', name=op.f('uq_signups_activity_id_volunteer_id'))
    )
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.create_index('ix_signups_activity_id_status_waitlisted_at', ['activity_id', 'status', 'waitlisted_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_signups_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('checkins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('signup_id', sa.Integer(), nullable=True),
    sa.Column('checked_in_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checkin_method', sa.String(length=32), nullable=False),
    sa.Column('checked_in_by_account_id', sa.Integer(), nullable=True),
    sa.Column('checkin_code_step', sa.BigInteger(), nullable=True),
    sa.Column('checked_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('checkout_method', sa.String(length=32), nullable=True),
    sa.Column('checked_out_by_account_id', sa.Integer(), nullable=True),
    sa.Column('manual_reason', sa.Text(), nullable=True),
    sa.Column('needs_review', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_checkins_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['checked_in_by_account_id'], ['accounts.id'], name=op.f('fk_checkins_checked_in_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['checked_out_by_account_id'], ['accounts.id'], name=op.f('fk_checkins_checked_out_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['signup_id'], ['signups.id'], name=op.f('fk_checkins_signup_id_signups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_checkins_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkins')),
    sa.UniqueConstraint('activity_id', 'volunteer_id', name=op.f('uq_checkins_activity_id_volunteer_id'))
    )
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkins_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('service_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('checkin_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('corrects_record_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_by_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_by_account_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_service_records_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['checkin_id'], ['checkins.id'], name=op.f('fk_service_records_checkin_id_checkins'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['confirmed_by_account_id'], ['accounts.id'], name=op.f('fk_service_records_confirmed_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['corrects_record_id'], ['service_records.id'], name=op.f('fk_service_records_corrects_record_id_service_records'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_account_id'], ['accounts.id'], name=op.f('fk_service_records_created_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_service_records_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_records')),
    sa.UniqueConstraint('checkin_id', name=op.f('uq_service_records_checkin_id'))
    )
    with op.batch_alter_table('service_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_records_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_records_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('correction_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('requested_minutes', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('correction_record_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_correction_requests_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['correction_record_id'], ['service_records.id'], name=op.f('fk_correction_requests_correction_record_id_service_records'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_correction_requests_decided_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_correction_requests_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_correction_requests'))
    )
    with op.batch_alter_table('correction_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_correction_requests_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_correction_requests_volunteer_id'), ['volunteer_id'], unique=False)

    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('join_mode', sa.String(length=32), server_default='approval', nullable=False))

    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkin_secret', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('total_service_minutes', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('service_record_count', sa.Integer(), server_default='0', nullable=False))




def downgrade():

    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.drop_column('service_record_count')
        batch_op.drop_column('total_service_minutes')
        batch_op.drop_column('checkin_secret')

    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('join_mode')

    with op.batch_alter_table('correction_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_correction_requests_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_correction_requests_activity_id'))

    op.drop_table('correction_requests')
    with op.batch_alter_table('service_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_service_records_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_service_records_activity_id'))

    op.drop_table('service_records')
    with op.batch_alter_table('checkins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkins_volunteer_id'))

    op.drop_table('checkins')
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signups_volunteer_id'))
        batch_op.drop_index('ix_signups_activity_id_status_waitlisted_at')

    op.drop_table('signups')
    op.drop_table('checkin_scans')
    op.drop_table('activity_qr_codes')
    with op.batch_alter_table('team_memberships', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_memberships_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_team_memberships_team_id'))

    op.drop_table('team_memberships')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activities_team_id'))
        batch_op.drop_index(batch_op.f('ix_activities_status'))
        batch_op.drop_index(batch_op.f('ix_activities_starts_at'))
        batch_op.drop_index(batch_op.f('ix_activities_region_id'))
        batch_op.drop_index(batch_op.f('ix_activities_organization_id'))

    op.drop_table('activities')

