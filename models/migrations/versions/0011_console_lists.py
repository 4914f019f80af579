"""Console lists: the volunteer directory's indexes, the mobile's last four digits, suspension.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-04 17:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mobile_last4', sa.String(length=4), nullable=True))
        batch_op.add_column(sa.Column('suspension_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE volunteers SET mobile_last4 = substr(mobile, length(mobile) - 3) WHERE mobile IS NOT NULL")
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volunteers_mobile_last4'), ['mobile_last4'], unique=False)
        batch_op.create_index('ix_volunteers_status_created_at_id', ['status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_volunteers_status_real_name_id', ['status', 'real_name', 'id'], unique=False)
        batch_op.create_index('ix_volunteers_status_minutes_id', ['status', 'total_service_minutes', 'id'], unique=False)
        batch_op.create_index('ix_volunteers_created_at_id', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_volunteers_region_id_status', ['region_id', 'status'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # The directory's category and skill filters (`(column::jsonb) @> '["value"]'`).
        op.execute("CREATE INDEX ix_volunteers_categories_gin ON volunteers USING gin ((categories::jsonb))")
        op.execute("CREATE INDEX ix_volunteers_skills_gin ON volunteers USING gin ((skills::jsonb))")
        # The name search: trigrams (pg_trgm is a trusted extension: the database owner may create it).
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_volunteers_real_name_trgm ON volunteers USING gin (real_name gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX ix_volunteers_real_name_trgm")
        op.execute("DROP INDEX ix_volunteers_skills_gin")
        op.execute("DROP INDEX ix_volunteers_categories_gin")
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.drop_index('ix_volunteers_region_id_status')
        batch_op.drop_index('ix_volunteers_created_at_id')
        batch_op.drop_index('ix_volunteers_status_minutes_id')
        batch_op.drop_index('ix_volunteers_status_real_name_id')
        batch_op.drop_index('ix_volunteers_status_created_at_id')
        batch_op.drop_index(batch_op.f('ix_volunteers_mobile_last4'))
        batch_op.drop_column('suspended_at')
        batch_op.drop_column('suspension_reason')
        batch_op.drop_column('mobile_last4')
