"""Record transfers (转移和接续): applications, decisions and the frozen transfer receipt.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 13:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('volunteer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('from_organization_id', sa.Integer(), nullable=True),
    sa.Column('to_organization_id', sa.Integer(), nullable=True),
    sa.Column('to_team_id', sa.Integer(), nullable=True),
    sa.Column('from_region_id', sa.Integer(), nullable=False),
    sa.Column('to_region_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_by_account_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.Column('joined_team_id', sa.Integer(), nullable=True),
    sa.Column('receipt', sa.JSON(), nullable=True),
    sa.Column('receipt_sha256', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_account_id'], ['accounts.id'], name=op.f('fk_transfers_decided_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['from_organization_id'], ['organizations.id'], name=op.f('fk_transfers_from_organization_id_organizations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['from_region_id'], ['regions.id'], name=op.f('fk_transfers_from_region_id_regions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['joined_team_id'], ['teams.id'], name=op.f('fk_transfers_joined_team_id_teams'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['to_organization_id'], ['organizations.id'], name=op.f('fk_transfers_to_organization_id_organizations'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['to_region_id'], ['regions.id'], name=op.f('fk_transfers_to_region_id_regions'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['to_team_id'], ['teams.id'], name=op.f('fk_transfers_to_team_id_teams'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['volunteer_id'], ['volunteers.id'], name=op.f('fk_transfers_volunteer_id_volunteers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_transfers'))
    )
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_transfers_volunteer_id'), ['volunteer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfers_from_organization_id'), ['from_organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfers_to_organization_id'), ['to_organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfers_from_region_id'), ['from_region_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_transfers_to_region_id'), ['to_region_id'], unique=False)
        # One pending application per volunteer, whatever races.
        batch_op.create_index('uq_transfers_volunteer_pending', ['volunteer_id'], unique=True,
                              sqlite_where=sa.text("status = 'pending'"),
                              postgresql_where=sa.text("status = 'pending'"))


def downgrade():
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('uq_transfers_volunteer_pending')
        batch_op.drop_index(batch_op.f('ix_transfers_to_region_id'))
        batch_op.drop_index(batch_op.f('ix_transfers_from_region_id'))
        batch_op.drop_index(batch_op.f('ix_transfers_to_organization_id'))
        batch_op.drop_index(batch_op.f('ix_transfers_from_organization_id'))
        batch_op.drop_index(batch_op.f('ix_transfers_volunteer_id'))
    op.drop_table('transfers')
