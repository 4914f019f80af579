"""Organisation profiles (credit code, kind, contact, applicant), retired regions, populations per year,
and the region path of audit entries.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04 16:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_code', sa.String(length=18), nullable=True))
        batch_op.add_column(sa.Column('kind', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('contact_name', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('contact_mobile', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('address', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('description', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('applicant_account_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_organizations_credit_code'), ['credit_code'])
        batch_op.create_foreign_key(batch_op.f('fk_organizations_applicant_account_id_accounts'), 'accounts',
                                    ['applicant_account_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('retired_reason', sa.String(length=200), nullable=True))

    op.create_table('region_populations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('updated_by_account_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['regions.id'], name=op.f('fk_region_populations_region_id_regions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_account_id'], ['accounts.id'], name=op.f('fk_region_populations_updated_by_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_region_populations')),
    sa.UniqueConstraint('region_id', 'year', name=op.f('uq_region_populations_region_id_year'))
    )
    with op.batch_alter_table('region_populations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_region_populations_region_id'), ['region_id'], unique=False)

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region_path', sa.String(length=255), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_log_region_path'), ['region_path'], unique=False)


def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_region_path'))
        batch_op.drop_column('region_path')

    with op.batch_alter_table('region_populations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_region_populations_region_id'))
    op.drop_table('region_populations')

    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_column('retired_reason')
        batch_op.drop_column('retired_at')

    with op.batch_alter_table('organizations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_organizations_applicant_account_id_accounts'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_organizations_credit_code'), type_='unique')
        batch_op.drop_column('applicant_account_id')
        batch_op.drop_column('description')
        batch_op.drop_column('address')
        batch_op.drop_column('contact_mobile')
        batch_op.drop_column('contact_name')
        batch_op.drop_column('kind')
        batch_op.drop_column('credit_code')
