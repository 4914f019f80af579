"""Schema only through Alembic: one head, and the migrated schema matches the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.extensions import db


def test_there_is_exactly_one_migration_head(app):
    config = Config()
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_migrated_database_matches_the_models(app_context):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        assert compare_metadata(context, db.metadata) == []


def test_sqlite_runs_with_foreign_keys_and_wal(app_context):
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as connection:
        assert connection.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_role_on_a_scope_is_granted_once_even_with_null_scope_columns(app_context, now):
    import pytest
    from sqlalchemy.exc import IntegrityError

    from app.extensions import db
    from models import Role, RoleGrant
    from tests import factories as f

    tree = f.region_tree()
    team = f.team(f.organization("甲区志愿者协会", tree["district"], now), "医疗队", now)
    account = f.account("sim_twice", now)
    db.session.add(RoleGrant(account_id=account.id, role=Role.CAPTAIN, team_id=team.id, created_at=now))
    db.session.flush()
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(RoleGrant(account_id=account.id, role=Role.CAPTAIN, team_id=team.id, created_at=now))
    db.session.add(RoleGrant(account_id=account.id, role=Role.ADMIN, region_id=tree["city"].id, created_at=now))
    db.session.flush()  # another scope of the same account is fine


def test_sqlite_tables_whose_ids_travel_never_reuse_them(app_context):
    """AUTOINCREMENT where a row can be deleted and its id sits in a token or URL (PostgreSQL never reuses)."""
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as connection:
        for table in ("accounts", "volunteers", "local_festival_days"):
            sql = connection.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}).scalar()
            assert "AUTOINCREMENT" in sql, table
