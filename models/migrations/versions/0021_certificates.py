"""Certificates of volunteer service: the certificates, objections raised during publicity, regions' publicity rules.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('certificate_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('publicity_days', sa.Integer(), nullable=False),
    sa.Column('working_days', sa.Boolean(), nullable=False),
    sa.Column('updated_by_account_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_certificate_policies_region_id_regions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_account_id'], ['accounts.id'], name=op.f('fk_certificate_policies_updated_by_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_policies')),
    sa.UniqueConstraint('region_id', name=op.f('uq_certificate_policies_region_id'))
    )
    op.create_table('certificates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('serial', sa.String(length=40), nullable=True),
    sa.Column('serial_year', sa.Integer(), nullable=True),
    sa.Column('serial_seq', sa.Integer(), nullable=True),
    sa.Column('verification_code', sa.String(length=16), nullable=False),
    sa.Column('content', sa.JSON(), nullable=True),
    sa.Column('snapshot', sa.JSON(), nullable=True),
    sa.Column('snapshot_sha256', sa.String(length=64), nullable=True),
    sa.Column('requested_by_account_id', sa.Integer(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reviewed_by_account_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejection_reason', sa.Text(), nullable=True),
    sa.Column('publicity_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('issued_by_account_id', sa.Integer(), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_account_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revocation_reason', sa.Text(), nullable=True),
    sa.Column('pdf_status', sa.String(length=32), nullable=False),
    sa.Column('pdf_file_key', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issued_by_account_id'], ['accounts.id'], name=op.f('fk_certificates_issued_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_certificates_organization_id_organizations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['requested_by_account_id'], ['accounts.id'], name=op.f('fk_certificates_requested_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['reviewed_by_account_id'], ['accounts.id'], name=op.f('fk_certificates_reviewed_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['revoked_by_account_id'], ['accounts.id'], name=op.f('fk_certificates_revoked_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_certificates_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificates')),
    sa.UniqueConstraint('organization_id', 'serial_year', 'serial_seq', name=op.f('uq_certificates_organization_id_serial_year_serial_seq')),
    sa.UniqueConstraint('serial', name=op.f('uq_certificates_serial'))
    )
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.create_index('ix_certificates_organization_id_status', ['organization_id', 'status'], unique=False)
        batch_op.create_index('ix_certificates_status_publicity_ends_at', ['status', 'publicity_ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_certificates_volunteer_id'), ['volunteer_id'], unique=False)

    op.create_table('certificate_objections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('certificate_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_certificate_objections_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['certificate_id'], ['certificates.id'], name=op.f('fk_certificate_objections_certificate_id_certificates'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_certificate_objections_decided_by_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certificate_objections'))
    )
    with op.batch_alter_table('certificate_objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certificate_objections_certificate_id'), ['certificate_id'], unique=False)



def downgrade():
    with op.batch_alter_table('certificate_objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificate_objections_certificate_id'))

    op.drop_table('certificate_objections')
    with op.batch_alter_table('certificates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certificates_volunteer_id'))
        batch_op.drop_index('ix_certificates_status_publicity_ends_at')
        batch_op.drop_index('ix_certificates_organization_id_status')

    op.drop_table('certificates')
    op.drop_table('certificate_policies')
