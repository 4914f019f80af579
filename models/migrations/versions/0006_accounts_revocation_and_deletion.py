"""Accounts: token generation, disabled and deleted times; volunteers may be erased; ids never reused.

On SQLite, accounts, volunteers and local_festival_days are rebuilt with AUTOINCREMENT (without
it SQLite hands out the largest id again once the row holding it is deleted, so an old token or
URL would name a new row). PostgreSQL's sequences never reuse an id: there only the columns change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def _batch(table: str):
    """Rebuild the table with AUTOINCREMENT on SQLite; plain ALTERs elsewhere."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    return op.batch_alter_table(table, recreate="always" if sqlite else "auto",
                                table_kwargs={"sqlite_autoincrement": True} if sqlite else {})


def upgrade():
    with _batch('accounts') as batch_op:
        batch_op.add_column(sa.Column('token_generation', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))
    with _batch('volunteers') as batch_op:
        batch_op.alter_column('mobile', existing_type=sa.String(length=11), nullable=True)
    with _batch('local_festival_days'):
        pass


def downgrade():
    # An erased volunteer has no mobile; the old schema demands one.
    op.execute("UPDATE volunteers SET mobile = '' WHERE mobile IS NULL")
    with op.batch_alter_table('volunteers') as batch_op:
        batch_op.alter_column('mobile', existing_type=sa.String(length=11), nullable=False)
    with op.batch_alter_table('accounts') as batch_op:
        batch_op.drop_column('deleted_at')
        batch_op.drop_column('disabled_at')
        batch_op.drop_column('token_generation')
