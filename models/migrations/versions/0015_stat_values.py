"""The statistics rollup: stat_values.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('stat_values',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('dimension', sa.String(length=20), nullable=False),
    sa.Column('bucket', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_stat_values_region_id_regions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stat_values')),
    sa.UniqueConstraint('period', 'region_id', 'dimension', 'bucket', name=op.f('uq_stat_values_period_region_id_dimension_bucket'))
    )
    with op.batch_alter_table('stat_values', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stat_values_region_id'), ['region_id'], unique=False)


def downgrade():
    with op.batch_alter_table('stat_values', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stat_values_region_id'))
    op.drop_table('stat_values')
