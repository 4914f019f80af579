"""Region permits: an admin lets an organisation hold activities in a region outside its own subtree.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('region_permits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('granted_by_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['granted_by_account_id'], ['accounts.id'], name=op.f('fk_region_permits_granted_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_region_permits_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_region_permits_region_id_regions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_region_permits')),
    sa.UniqueConstraint('organization_id', 'region_id', name=op.f('uq_region_permits_organization_id_region_id'))
    )
    with op.batch_alter_table('region_permits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_permits_organization_id'), ['organization_id'], unique=False)


def downgrade():
    with op.batch_alter_table('region_permits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_region_permits_organization_id'))

    op.drop_table('region_permits')
