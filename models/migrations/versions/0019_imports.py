"""Imports of volunteers and past records from XLSX: the uploads, the archives to claim, what each commit wrote.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 23:13:18.977693

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=120), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('committed_by_account_id', sa.Integer(), nullable=True),
    sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_imports_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['committed_by_account_id'], ['accounts.id'], name=op.f('fk_imports_committed_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_imports_organization_id_organizations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imports'))
    )
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imports_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_imports_sha256'), ['sha256'], unique=False)

    op.create_table('imported_volunteers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('placeholder_account_id', sa.Integer(), nullable=False),
    sa.Column('claimed_by_account_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['claimed_by_account_id'], ['accounts.id'], name=op.f('fk_imported_volunteers_claimed_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], name=op.f('fk_imported_volunteers_import_id_imports'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['placeholder_account_id'], ['accounts.id'], name=op.f('fk_imported_volunteers_placeholder_account_id_accounts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_imported_volunteers_volunteer_id_volunteers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imported_volunteers')),
    sa.UniqueConstraint('placeholder_account_id', name=op.f('uq_imported_volunteers_placeholder_account_id')),
    sa.UniqueConstraint('volunteer_id', name=op.f('uq_imported_volunteers_volunteer_id'))
    )
    with op.batch_alter_table('imported_volunteers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imported_volunteers_import_id'), ['import_id'], unique=False)

    op.create_table('imported_activities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=60), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_imported_activities_activity_id_activities'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_imported_activities_organization_id_organizations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imported_activities')),
    sa.UniqueConstraint('activity_id', name=op.f('uq_imported_activities_activity_id')),
    sa.UniqueConstraint('organization_id', 'title', 'held_on', name=op.f('uq_imported_activities_organization_id_title_held_on'))
    )
    op.create_table('imported_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('service_record_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], name=op.f('fk_imported_records_import_id_imports'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_imported_records_organization_id_organizations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['service_record_id'], ['service_records.id'], name=op.f('fk_imported_records_service_record_id_service_records'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_imported_records')),
    sa.UniqueConstraint('organization_id', 'fingerprint', name=op.f('uq_imported_records_organization_id_fingerprint')),
    sa.UniqueConstraint('service_record_id', name=op.f('uq_imported_records_service_record_id'))
    )
    with op.batch_alter_table('imported_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imported_records_import_id'), ['import_id'], unique=False)


def downgrade():
    with op.batch_alter_table('imported_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imported_records_import_id'))

    op.drop_table('imported_records')
    op.drop_table('imported_activities')
    with op.batch_alter_table('imported_volunteers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imported_volunteers_import_id'))

    op.drop_table('imported_volunteers')
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imports_sha256'))
        batch_op.drop_index(batch_op.f('ix_imports_organization_id'))

    op.drop_table('imports')
