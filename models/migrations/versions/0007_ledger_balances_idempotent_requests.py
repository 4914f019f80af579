"""The ledger's balance per sign-up with a CHECK against negatives; idempotent requests by nonce.

`signups.service_minutes` is filled from the records already written. If a volunteer's records at
an activity already sum below zero (the race this revision closes), the CHECK refuses the upgrade
and names the constraint: correct those records first.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('idempotent_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('operation', sa.String(length=64), nullable=False),
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_idempotent_requests_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_requests')),
    sa.UniqueConstraint('account_id', 'operation', 'nonce', name=op.f('uq_idempotent_requests_account_id_operation_nonce'))
    )
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_minutes', sa.Integer(), server_default='0', nullable=False))
    op.execute(
        "UPDATE signups SET service_minutes = COALESCE((SELECT SUM(r.minutes) FROM service_records r "
        "WHERE r.volunteer_id = signups.volunteer_id AND r.activity_id = signups.activity_id), 0)"
    )
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_signups_service_minutes_not_negative'), 'service_minutes >= 0')


def downgrade():
    with op.batch_alter_table('signups', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_signups_service_minutes_not_negative'), type_='check')
        batch_op.drop_column('service_minutes')
    op.drop_table('idempotent_requests')
