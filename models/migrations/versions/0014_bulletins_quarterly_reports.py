"""Monthly bulletins and quarterly reports.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 19:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'bulletins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('region_id', sa.Integer(), nullable=False),
        sa.Column('month', sa.String(length=7), nullable=False),
        sa.Column('status', sa.String(length=32), nullable=False),
        sa.Column('content', sa.JSON(), nullable=True),
        sa.Column('content_sha256', sa.String(length=64), nullable=True),
        sa.Column('frozen_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('pdf_status', sa.String(length=32), nullable=False),
        sa.Column('pdf_file_key', sa.String(length=200), nullable=True),
        sa.Column('error', sa.String(length=500), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_bulletins_region_id_regions'),
                                ondelete='RESTRICT'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_bulletins')),
        sa.UniqueConstraint('region_id', 'month', name=op.f('uq_bulletins_region_id_month')),
    )
    with op.batch_alter_table('bulletins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bulletins_region_id'), ['region_id'], unique=False)
    op.create_table(
        'quarterly_reports',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('region_id', sa.Integer(), nullable=False),
        sa.Column('quarter', sa.String(length=7), nullable=False),
        sa.Column('submitted_by_account_id', sa.Integer(), nullable=True),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('figures', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_quarterly_reports_region_id_regions'),
                                ondelete='RESTRICT'),
        sa.ForeignKeyConstraint(['submitted_by_account_id'], ['accounts.id'],
                                name=op.f('fk_quarterly_reports_submitted_by_account_id_accounts'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_quarterly_reports')),
        sa.UniqueConstraint('region_id', 'quarter', name=op.f('uq_quarterly_reports_region_id_quarter')),
    )
    with op.batch_alter_table('quarterly_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarterly_reports_region_id'), ['region_id'], unique=False)


def downgrade():
    with op.batch_alter_table('quarterly_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarterly_reports_region_id'))
    op.drop_table('quarterly_reports')
    with op.batch_alter_table('bulletins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bulletins_region_id'))
    op.drop_table('bulletins')
