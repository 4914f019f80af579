"""Points administration: a bonus's reason on its transfer, a region's earning cut-off date, and the
activity's points grade held to 1–3.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 22:30:00.000000

points_transfers carries the triggers of 0022 (on SQLite too), so its column is added and dropped
with plain ALTER TABLE statements: a batch "move and copy" would drop the table and its triggers
with it. SQLite (3.35 and later) drops a column that no index or constraint names in place.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE points_transfers ADD COLUMN memo VARCHAR(100)")
    with op.batch_alter_table('points_rules', schema=None) as batch_op:
        batch_op.add_column(sa.Column('earning_starts_on', sa.Date(), nullable=True))
    # Any grade outside 1–3 was read as ungraded; it is written so before the CHECK holds it.
    op.execute("UPDATE activities SET points_grade = NULL WHERE points_grade NOT IN (1, 2, 3)")
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.create_check_constraint(op.f('ck_activities_points_grade_range'),
                                        'points_grade IS NULL OR points_grade BETWEEN 1 AND 3')


def downgrade():
    with op.batch_alter_table('activities', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_activities_points_grade_range'), type_='check')
    with op.batch_alter_table('points_rules', schema=None) as batch_op:
        batch_op.drop_column('earning_starts_on')
    op.execute("ALTER TABLE points_transfers DROP COLUMN memo")
