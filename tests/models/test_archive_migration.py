"""Migration 0017 numbers the volunteers approved before numbers existed, in the order of approval."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import upgrade

from tests.conftest import _base_overrides


def test_the_migration_numbers_approved_and_suspended_volunteers_per_region(tmp_path):
    from app import create_app
    from app.extensions import db

    app = create_app(_base_overrides("sqlite:///" + str(tmp_path / "before.db")))
    with app.app_context():
        upgrade(revision="0016")
        with db.engine.begin() as connection:
            run = connection.execute
            for region_id, code in ((1, "R1"), (2, "R2")):
                run(sa.text("INSERT INTO regions (id, code, name, level, path) VALUES (:id, :code, 'x', 'community', "
                            "'/' || :id || '/')"), {"id": region_id, "code": code})
            people = [  # id, region, status, reviewed_at
                (1, 1, "approved", "2026-03-01 00:00:00"), (2, 1, "pending", None),
                (3, 1, "suspended", "2026-01-01 00:00:00"), (4, 2, "approved", "2026-02-01 00:00:00"),
                (5, 1, "rejected", "2026-01-15 00:00:00"), (6, 1, "deleted", "2025-12-01 00:00:00")]
            for person, region, status, reviewed_at in people:
                run(sa.text("INSERT INTO accounts (id, mp_openid, created_at, last_login_at, token_generation) "
                            "VALUES (:id, :openid, '2025-01-01 00:00:00', '2025-01-01 00:00:00', 0)"),
                    {"id": person, "openid": f"sim_m{person}"})
                run(sa.text("INSERT INTO volunteers (id, account_id, real_name, categories, skills, region_id, status, "
                            "reviewed_at, created_at, updated_at) VALUES (:id, :id, '王小明', '[]', '[]', :region, "
                            ":status, :reviewed, '2025-01-01 00:00:00', '2025-01-01 00:00:00')"),
                    {"id": person, "region": region, "status": status, "reviewed": reviewed_at})
        upgrade(revision="0017")
        with db.engine.connect() as connection:
            numbers = dict(connection.execute(sa.text("SELECT id, volunteer_number FROM volunteers")).all())
            sequences = dict(connection.execute(sa.text("SELECT prefix, last_value FROM volunteer_number_sequences")).all())
        db.engine.dispose()
    assert numbers == {1: "R100000002", 2: None, 3: "R100000001", 4: "R200000001", 5: None, 6: None}
    assert sequences == {"R1": 2, "R2": 1}
