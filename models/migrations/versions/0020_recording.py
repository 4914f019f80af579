"""Time entered by people: service periods, sign-in sheet previews, declarations, retroactive entries (补录).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 23:12:28.298695

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bulk_previews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('rows', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('committed_by_account_id', sa.Integer(), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_bulk_previews_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_bulk_previews_activity_id_activities'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['committed_by_account_id'], ['accounts.id'], name=op.f('fk_bulk_previews_committed_by_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulk_previews')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('bulk_previews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulk_previews_activity_id'), ['activity_id'], unique=False)

    op.create_table('retroactive_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('beneficiary', sa.String(length=100), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence_upload_ids', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('created_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_retroactive_entries_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_account_id'], ['accounts.id'], name=op.f('fk_retroactive_entries_created_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_retroactive_entries_decided_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_retroactive_entries_organization_id_organizations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_retroactive_entries_region_id_regions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retroactive_entries'))
    )
    with op.batch_alter_table('retroactive_entries', schema=None) as batch_op:
        batch_op.create_index('ix_retroactive_entries_organization_id_status', ['organization_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_retroactive_entries_region_id'), ['region_id'], unique=False)

    op.create_table('declarations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('photo_upload_ids', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_declarations_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_declarations_decided_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['record_id'], ['service_records.id'], name=op.f('fk_declarations_record_id_service_records'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_declarations_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_declarations'))
    )
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.create_index('ix_declarations_activity_id_status', ['activity_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_declarations_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('retroactive_attendees',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['retroactive_entries.id'], name=op.f('fk_retroactive_attendees_entry_id_retroactive_entries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['record_id'], ['service_records.id'], name=op.f('fk_retroactive_attendees_record_id_service_records'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_retroactive_attendees_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retroactive_attendees'))
    )
    with op.batch_alter_table('retroactive_attendees', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retroactive_attendees_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_retroactive_attendees_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('service_periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_service_periods_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['record_id'], ['service_records.id'], name=op.f('fk_service_periods_record_id_service_records'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_service_periods_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_periods')),
    sa.UniqueConstraint('record_id', name=op.f('uq_service_periods_record_id'))
    )
    with op.batch_alter_table('service_periods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_periods_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index('ix_service_periods_volunteer_id_starts_at', ['volunteer_id', 'starts_at'], unique=False)



def downgrade():
    with op.batch_alter_table('service_periods', schema=None) as batch_op:
        batch_op.drop_index('ix_service_periods_volunteer_id_starts_at')
        batch_op.drop_index(batch_op.f('ix_service_periods_activity_id'))

    op.drop_table('service_periods')
    with op.batch_alter_table('retroactive_attendees', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retroactive_attendees_volunteer_id'))
        batch_op.drop_index(batch_op.f('ix_retroactive_attendees_entry_id'))

    op.drop_table('retroactive_attendees')
    with op.batch_alter_table('declarations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_declarations_volunteer_id'))
        batch_op.drop_index('ix_declarations_activity_id_status')

    op.drop_table('declarations')
    with op.batch_alter_table('retroactive_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retroactive_entries_region_id'))
        batch_op.drop_index('ix_retroactive_entries_organization_id_status')

    op.drop_table('retroactive_entries')
    with op.batch_alter_table('bulk_previews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulk_previews_activity_id'))

    op.drop_table('bulk_previews')
