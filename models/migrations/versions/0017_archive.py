"""The archive: awards and complaints, attendee evaluations, activity reports, volunteer-number
sequences, activities' beneficiary and lead; numbers for volunteers approved before.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# As app/services/volunteer_numbers.py (kept here: a migration must not change when the code does).
_WIDTH = 8
_PREFIX_LENGTH = 24 - _WIDTH


def upgrade():
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('beneficiary', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('lead_name', sa.String(length=50), nullable=True))
    op.create_table('archive_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('issuer', sa.String(length=100), nullable=True),
    sa.Column('occurred_on', sa.Date(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=True),
    sa.Column('retracts_entry_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_account_id'], ['accounts.id'], name=op.f('fk_archive_entries_created_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_archive_entries_organization_id_organizations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['retracts_entry_id'], ['archive_entries.id'], name=op.f('fk_archive_entries_retracts_entry_id_archive_entries'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_archive_entries_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_archive_entries')),
    sa.UniqueConstraint('retracts_entry_id', name=op.f('uq_archive_entries_retracts_entry_id'))
    )
    op.create_index('ix_archive_entries_volunteer_id_kind', 'archive_entries', ['volunteer_id', 'kind'], unique=False)
    op.create_table('attendee_evaluations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('rating', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('evaluated_by_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_attendee_evaluations_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['evaluated_by_account_id'], ['accounts.id'], name=op.f('fk_attendee_evaluations_evaluated_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_attendee_evaluations_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendee_evaluations')),
    sa.UniqueConstraint('activity_id', 'volunteer_id', 'revision', name=op.f('uq_attendee_evaluations_activity_id_volunteer_id_revision'))
    )
    op.create_index('ix_attendee_evaluations_volunteer_id', 'attendee_evaluations', ['volunteer_id'], unique=False)
    op.create_table('activity_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('photo_upload_ids', sa.JSON(), nullable=False),
    sa.Column('created_by_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_activity_reports_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_account_id'], ['accounts.id'], name=op.f('fk_activity_reports_created_by_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_reports')),
    sa.UniqueConstraint('activity_id', 'revision', name=op.f('uq_activity_reports_activity_id_revision'))
    )
    op.create_table('volunteer_number_sequences',
    sa.Column('prefix', sa.String(length=24), nullable=False),
    sa.Column('last_value', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('prefix', name=op.f('pk_volunteer_number_sequences'))
    )
    _backfill_numbers()


def _backfill_numbers():
    """Number the volunteers approved before numbers existed, in order of approval, per home region."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT v.id, r.code FROM volunteers v JOIN regions r ON r.id = v.region_id "
        "WHERE v.volunteer_number IS NULL AND v.status IN ('approved', 'suspended') "
        "ORDER BY COALESCE(v.reviewed_at, v.created_at), v.id")).all()
    counters = {}
    for volunteer_id, code in rows:
        prefix = code[:_PREFIX_LENGTH]
        counters[prefix] = counters.get(prefix, 0) + 1
        connection.execute(sa.text("UPDATE volunteers SET volunteer_number = :number WHERE id = :id"),
                           {"number": f"{prefix}{counters[prefix]:0{_WIDTH}d}", "id": volunteer_id})
    for prefix, last in counters.items():
        connection.execute(sa.text("INSERT INTO volunteer_number_sequences (prefix, last_value) VALUES (:p, :v)"),
                           {"p": prefix, "v": last})


def downgrade():
    op.drop_table('volunteer_number_sequences')
    op.drop_table('activity_reports')
    op.drop_index('ix_attendee_evaluations_volunteer_id', table_name='attendee_evaluations')
    op.drop_table('attendee_evaluations')
    op.drop_index('ix_archive_entries_volunteer_id_kind', table_name='archive_entries')
    op.drop_table('archive_entries')
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_column('lead_name')
        batch_op.drop_column('beneficiary')
