"""Uploads; how each service record was made (service_records.source); the volunteer number.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 12:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('uploads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token', sa.String(length=43), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=32), nullable=False),
    sa.Column('content_type', sa.String(length=40), nullable=False),
    sa.Column('size_bytes', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('thumbnail_key', sa.String(length=200), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_uploads_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads')),
    sa.UniqueConstraint('token', name=op.f('uq_uploads_token'))
    )
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_uploads_account_id'), ['account_id'], unique=False)
    with op.batch_alter_table('service_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=32), server_default='scan', nullable=False))
    # Corrections so far were all typed in by organisers (directly or by approving a request).
    op.execute("UPDATE service_records SET source = 'manual' WHERE kind = 'correction'")
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('volunteer_number', sa.String(length=24), nullable=True))
        # A unique index, not a constraint: SQLite adds it without rebuilding the table (AUTOINCREMENT kept).
        batch_op.create_index(batch_op.f('ix_volunteers_volunteer_number'), ['volunteer_number'], unique=True)


def downgrade():
    with op.batch_alter_table('volunteers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volunteers_volunteer_number'))
        batch_op.drop_column('volunteer_number')
    with op.batch_alter_table('service_records', schema=None) as batch_op:
        batch_op.drop_column('source')
    with op.batch_alter_table('uploads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_uploads_account_id'))
    op.drop_table('uploads')
