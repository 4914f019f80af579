"""Delivery channels and leases on the outbox; announcements; subscribe-message credits; job runs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 16:58:32.171847

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('period', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_runs')),
    sa.UniqueConstraint('job', 'period', name=op.f('uq_job_runs_job_period'))
    )
    op.create_table('subscription_credits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('remaining >= 0', name=op.f('ck_subscription_credits_remaining_not_negative')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_subscription_credits_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_credits')),
    sa.UniqueConstraint('account_id', 'template_id', name=op.f('uq_subscription_credits_account_id_template_id'))
    )
    op.create_table('subscription_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedup_key', sa.String(length=200), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('matched_grant_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_subscription_grants_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['matched_grant_id'], ['subscription_grants.id'], name=op.f('fk_subscription_grants_matched_grant_id_subscription_grants'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscription_grants')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_subscription_grants_dedup_key'))
    )
    with op.batch_alter_table('subscription_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscription_grants_account_id'), ['account_id'], unique=False)

    op.create_table('announcements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('author_account_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=True),
    sa.Column('audience', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('recipient_count', sa.Integer(), nullable=False),
    sa.Column('unreachable_count', sa.Integer(), nullable=False),
    sa.Column('fanout_cursor', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fanned_out_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['activity_id'], ['activities.id'], name=op.f('fk_announcements_activity_id_activities'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['author_account_id'], ['accounts.id'], name=op.f('fk_announcements_author_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_announcements_organization_id_organizations'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements'))
    )
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_announcements_organization_id'), ['organization_id'], unique=False)

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('announcement_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('activity_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('wechat_msgid', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('delivery_errcode', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('delivery_reported_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('read_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column('account_id',
               existing_type=sa.INTEGER(),
               nullable=True)
        batch_op.drop_index(batch_op.f('ix_notifications_account_id'))
        batch_op.drop_index(batch_op.f('ix_notifications_status'))
        batch_op.create_index('ix_notifications_account_created', ['account_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_activity_id'), ['activity_id'], unique=False)
        batch_op.create_index('ix_notifications_announcement_status', ['announcement_id', 'status'], unique=False)
        batch_op.create_index('ix_notifications_due', ['channel', 'next_attempt_at', 'id'], unique=False,
                              postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_notifications_in_flight', ['claimed_at'], unique=False,
                              postgresql_where=sa.text("status = 'sending'"), sqlite_where=sa.text("status = 'sending'"))
        batch_op.create_index(batch_op.f('ix_notifications_team_id'), ['team_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_wechat_msgid'), ['wechat_msgid'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_notifications_activity_id_activities'), 'activities', ['activity_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_notifications_announcement_id_announcements'), 'announcements', ['announcement_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_notifications_team_id_teams'), 'teams', ['team_id'], ['id'], ondelete='CASCADE')

    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.add_column(sa.Column('robot_webhook_key_encrypted', sa.LargeBinary(), nullable=True))



def downgrade():
    with op.batch_alter_table('teams', schema=None) as batch_op:
        batch_op.drop_column('robot_webhook_key_encrypted')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_notifications_team_id_teams'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_notifications_announcement_id_announcements'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_notifications_activity_id_activities'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_notifications_wechat_msgid'))
        batch_op.drop_index(batch_op.f('ix_notifications_team_id'))
        batch_op.drop_index('ix_notifications_in_flight')
        batch_op.drop_index('ix_notifications_due')
        batch_op.drop_index('ix_notifications_announcement_status')
        batch_op.drop_index(batch_op.f('ix_notifications_activity_id'))
        batch_op.drop_index('ix_notifications_account_created')
        batch_op.create_index(batch_op.f('ix_notifications_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_notifications_account_id'), ['account_id'], unique=False)
        batch_op.alter_column('account_id',
               existing_type=sa.INTEGER(),
               nullable=False)
        batch_op.drop_column('read_at')
        batch_op.drop_column('delivery_reported_at')
        batch_op.drop_column('delivery_errcode')
        batch_op.drop_column('wechat_msgid')
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('activity_id')
        batch_op.drop_column('announcement_id')
        batch_op.drop_column('team_id')

    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_announcements_organization_id'))

    op.drop_table('announcements')
    with op.batch_alter_table('subscription_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscription_grants_account_id'))

    op.drop_table('subscription_grants')
    op.drop_table('subscription_credits')
    op.drop_table('job_runs')
