"""Local festival days that admins add to the built-in calendar.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 16:17:21.188820

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('local_festival_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('month', sa.Integer(), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('theme', sa.String(length=100), nullable=False),
    sa.Column('lead', sa.String(length=40), nullable=False),
    sa.Column('created_by_account_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('month BETWEEN 1 AND 12 AND day BETWEEN 1 AND 31', name=op.f('ck_local_festival_days_month_and_day')),
    sa.ForeignKeyConstraint(['created_by_account_id'], ['accounts.id'], name=op.f('fk_local_festival_days_created_by_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_local_festival_days_region_id_regions'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_local_festival_days'))
    )
    with op.batch_alter_table('local_festival_days', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_local_festival_days_region_id'), ['region_id'], unique=False)



def downgrade():
    with op.batch_alter_table('local_festival_days', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_local_festival_days_region_id'))

    op.drop_table('local_festival_days')
