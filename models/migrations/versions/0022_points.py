"""Points: accounts, immutable transfers and entries of a double-entry ledger, with the triggers that keep it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 12:00:00.000000

The triggers are the guarantee, not the service: an INSERT into points_transfers applies both sides
to the accounts' balances in the same statement (so the CHECK on points_accounts refuses an
overdraft whoever writes), transfers cannot be updated, and on PostgreSQL neither deleted nor
balances written except by that trigger. SQLite lacks pg_trigger_depth() and the test suite empties
tables with DELETE, so there only UPDATE of a transfer is refused (see docs/ARCHITECTURE.md).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


PG_UP = [
    """
    CREATE FUNCTION points_apply_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        after_debit bigint;
        after_credit bigint;
    BEGIN
        UPDATE points_accounts SET balance = balance - NEW.amount, version = version + 1
         WHERE id = NEW.debit_account_id RETURNING balance INTO after_debit;
        UPDATE points_accounts SET balance = balance + NEW.amount, version = version + 1
         WHERE id = NEW.credit_account_id RETURNING balance INTO after_credit;
        INSERT INTO points_entries (account_id, transfer_id, amount, balance_after)
        VALUES (NEW.debit_account_id, NEW.id, -NEW.amount, after_debit),
               (NEW.credit_account_id, NEW.id, NEW.amount, after_credit);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER points_transfers_apply AFTER INSERT ON points_transfers
    FOR EACH ROW EXECUTE FUNCTION points_apply_transfer()
    """,
    """
    CREATE FUNCTION points_transfers_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'points transfers are immutable; make a correcting transfer'
            USING ERRCODE = 'integrity_constraint_violation';
    END $$
    """,
    """
    CREATE TRIGGER points_transfers_immutable BEFORE UPDATE OR DELETE ON points_transfers
    FOR EACH ROW EXECUTE FUNCTION points_transfers_immutable()
    """,
    """
    CREATE TRIGGER points_entries_immutable BEFORE UPDATE OR DELETE ON points_entries
    FOR EACH ROW EXECUTE FUNCTION points_transfers_immutable()
    """,
    # Entries come only from points_apply_transfer (trigger depth 2), never from a direct INSERT.
    """
    CREATE FUNCTION points_entries_from_transfers() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF pg_trigger_depth() < 2 THEN
            RAISE EXCEPTION 'points entries are written only by points_transfers'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER points_entries_from_transfers BEFORE INSERT ON points_entries
    FOR EACH ROW EXECUTE FUNCTION points_entries_from_transfers()
    """,
    # A balance moves only inside points_apply_transfer (trigger depth 2); a direct UPDATE is depth 1.
    """
    CREATE FUNCTION points_balance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF pg_trigger_depth() < 2 THEN
            RAISE EXCEPTION 'points balances change only through points_transfers'
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER points_accounts_balance_guard BEFORE UPDATE ON points_accounts
    FOR EACH ROW WHEN (OLD.balance IS DISTINCT FROM NEW.balance OR OLD.version IS DISTINCT FROM NEW.version
                       OR OLD.allow_negative IS DISTINCT FROM NEW.allow_negative)
    EXECUTE FUNCTION points_balance_guard()
    """,
    # An account is born empty: a balance can only come from transfers.
    """
    CREATE FUNCTION points_account_born_empty() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.balance <> 0 THEN
            RAISE EXCEPTION 'a points account starts at 0' USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER points_accounts_born_empty BEFORE INSERT ON points_accounts
    FOR EACH ROW EXECUTE FUNCTION points_account_born_empty()
    """,
]

PG_DOWN = [
    "DROP TRIGGER IF EXISTS points_accounts_born_empty ON points_accounts",
    "DROP FUNCTION IF EXISTS points_account_born_empty()",
    "DROP TRIGGER IF EXISTS points_accounts_balance_guard ON points_accounts",
    "DROP FUNCTION IF EXISTS points_balance_guard()",
    "DROP TRIGGER IF EXISTS points_entries_from_transfers ON points_entries",
    "DROP FUNCTION IF EXISTS points_entries_from_transfers()",
    "DROP TRIGGER IF EXISTS points_entries_immutable ON points_entries",
    "DROP TRIGGER IF EXISTS points_transfers_immutable ON points_transfers",
    "DROP FUNCTION IF EXISTS points_transfers_immutable()",
    "DROP TRIGGER IF EXISTS points_transfers_apply ON points_transfers",
    "DROP FUNCTION IF EXISTS points_apply_transfer()",
]

SQLITE_UP = [
    """
    CREATE TRIGGER points_transfers_apply AFTER INSERT ON points_transfers
    BEGIN
        UPDATE points_accounts SET balance = balance - NEW.amount, version = version + 1
         WHERE id = NEW.debit_account_id;
        INSERT INTO points_entries (account_id, transfer_id, amount, balance_after)
        SELECT id, NEW.id, -NEW.amount, balance FROM points_accounts WHERE id = NEW.debit_account_id;
        UPDATE points_accounts SET balance = balance + NEW.amount, version = version + 1
         WHERE id = NEW.credit_account_id;
        INSERT INTO points_entries (account_id, transfer_id, amount, balance_after)
        SELECT id, NEW.id, NEW.amount, balance FROM points_accounts WHERE id = NEW.credit_account_id;
    END
    """,
    """
    CREATE TRIGGER points_transfers_immutable BEFORE UPDATE ON points_transfers
    BEGIN
        SELECT RAISE(ABORT, 'points transfers are immutable; make a correcting transfer');
    END
    """,
    """
    CREATE TRIGGER points_entries_immutable BEFORE UPDATE ON points_entries
    BEGIN
        SELECT RAISE(ABORT, 'points entries are immutable');
    END
    """,
    """
    CREATE TRIGGER points_accounts_born_empty BEFORE INSERT ON points_accounts
    WHEN NEW.balance <> 0
    BEGIN
        SELECT RAISE(ABORT, 'a points account starts at 0');
    END
    """,
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS points_entries_immutable",
    "DROP TRIGGER IF EXISTS points_accounts_born_empty",
    "DROP TRIGGER IF EXISTS points_transfers_immutable",
    "DROP TRIGGER IF EXISTS points_transfers_apply",
]


def upgrade():
    op.create_table('points_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('allow_negative', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('allow_negative OR balance >= 0', name=op.f('ck_points_accounts_balance_not_negative')),
    sa.CheckConstraint("NOT allow_negative OR kind = 'issuance'", name=op.f('ck_points_accounts_only_issuance_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_accounts')),
    sa.UniqueConstraint('kind', 'owner_id', name=op.f('uq_points_accounts_kind_owner_id'))
    )
    op.create_table('points_transfers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=128), nullable=False),
    sa.Column('debit_account_id', sa.Integer(), nullable=False),
    sa.Column('credit_account_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=True),
    sa.Column('corrects_transfer_id', sa.Integer(), nullable=True),
    sa.Column('pending_transfer_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('event_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_points_transfers_amount_positive')),
    sa.CheckConstraint('debit_account_id <> credit_account_id', name=op.f('ck_points_transfers_two_accounts')),
    sa.ForeignKeyConstraint(['corrects_transfer_id'], ['points_transfers.id'], name=op.f('fk_points_transfers_corrects_transfer_id_points_transfers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['credit_account_id'], ['points_accounts.id'], name=op.f('fk_points_transfers_credit_account_id_points_accounts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['debit_account_id'], ['points_accounts.id'], name=op.f('fk_points_transfers_debit_account_id_points_accounts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['pending_transfer_id'], ['points_transfers.id'], name=op.f('fk_points_transfers_pending_transfer_id_points_transfers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_transfers')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_points_transfers_idempotency_key')),
    sa.UniqueConstraint('pending_transfer_id', name=op.f('uq_points_transfers_pending_transfer_id'))
    )
    with op.batch_alter_table('points_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_points_transfers_corrects_transfer_id'), ['corrects_transfer_id'], unique=False)
        batch_op.create_index('ix_points_transfers_credit_account_id_id', ['credit_account_id', 'id'], unique=False)
        batch_op.create_index('ix_points_transfers_debit_account_id_id', ['debit_account_id', 'id'], unique=False)

    op.create_table('points_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('transfer_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['points_accounts.id'], name=op.f('fk_points_entries_account_id_points_accounts'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['transfer_id'], ['points_transfers.id'], name=op.f('fk_points_entries_transfer_id_points_transfers'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_points_entries')),
    sa.UniqueConstraint('transfer_id', 'account_id', name=op.f('uq_points_entries_transfer_id_account_id'))
    )
    with op.batch_alter_table('points_entries', schema=None) as batch_op:
        batch_op.create_index('ix_points_entries_account_id_id', ['account_id', 'id'], unique=False)

    statements = PG_UP if op.get_bind().dialect.name == 'postgresql' else SQLITE_UP
    for statement in statements:
        op.execute(statement)


def downgrade():
    statements = PG_DOWN if op.get_bind().dialect.name == 'postgresql' else SQLITE_DOWN
    for statement in statements:
        op.execute(statement)
    with op.batch_alter_table('points_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_points_entries_account_id_id')

    op.drop_table('points_entries')
    with op.batch_alter_table('points_transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_points_transfers_debit_account_id_id')
        batch_op.drop_index('ix_points_transfers_credit_account_id_id')
        batch_op.drop_index(batch_op.f('ix_points_transfers_corrects_transfer_id'))

    op.drop_table('points_transfers')
    op.drop_table('points_accounts')
