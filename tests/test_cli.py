"""The `flask` commands a newcomer uses: seed the demo, push callbacks, grant roles."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.services import bot
from models import Account, Organization, RoleGrant, Volunteer
from tests.fakes import serve


@pytest.fixture(autouse=True)
def small_demo(monkeypatch):
    """The commands' tests need the demo's shape, not its size (tests/services/test_demo.py checks that)."""
    from app.services import demo

    monkeypatch.setattr(demo, "VOLUNTEERS", 60)
    monkeypatch.setattr(demo, "HISTORY_WEEKS", 2)


def test_seed_demo_loads_data_once(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed", "demo"])
    second = runner.invoke(args=["seed", "demo"])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Organization)) >= 1
        volunteers = db.session.scalar(select(func.count()).select_from(Volunteer))
        assert volunteers >= 1
    runner.invoke(args=["seed", "demo"])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Volunteer)) == volunteers


def test_push_text_reaches_the_service_and_prints_the_bot_reply(app):
    with serve(app) as url:
        result = app.test_cli_runner().invoke(args=["wechat-sim", "push", "text", "--content", "帮助",
                                                    "--service-url", url])
    assert result.exit_code == 0, result.output
    assert "HTTP 200" in result.output
    assert bot.HELP_TEXT.splitlines()[0] in result.output


def test_push_in_safe_mode_prints_the_decrypted_reply(app):
    with serve(app) as url:
        result = app.test_cli_runner().invoke(args=["wechat-sim", "push", "subscribe", "--safe",
                                                    "--service-url", url])
    assert result.exit_code == 0, result.output
    assert "HTTP 200" in result.output and "欢迎" in result.output


def test_push_to_a_service_that_is_not_running_says_so(app):
    result = app.test_cli_runner().invoke(args=["wechat-sim", "push", "text", "--service-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "cannot reach the service at http://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_push_scan_without_a_scene_is_a_usage_error(app):
    result = app.test_cli_runner().invoke(args=["wechat-sim", "push", "scan", "--service-url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "scan needs event_key" in result.output


def test_roles_grant_gives_an_account_a_role_once(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed", "demo"]).exit_code == 0
    with app.app_context():
        organization_id = db.session.scalars(select(Organization.id)).first()
    for _ in range(2):
        result = runner.invoke(args=["roles", "grant", "sim_newcomer", "organizer", str(organization_id)])
        assert result.exit_code == 0, result.output
    with app.app_context():
        grants = db.session.scalars(select(RoleGrant).join(Account, Account.id == RoleGrant.account_id)
                                    .where(Account.mp_openid == "sim_newcomer")).all()
        assert [(g.role.value, g.organization_id) for g in grants] == [("organizer", organization_id)]


def test_roles_grant_on_a_missing_scope_changes_nothing(app):
    result = app.test_cli_runner().invoke(args=["roles", "grant", "sim_newcomer", "captain", "424242"])
    assert result.exit_code == 1
    assert "no team with id 424242" in result.output and "Traceback" not in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Account)) == 0


def test_jobs_close_checkouts_runs_and_reports(app):
    result = app.test_cli_runner().invoke(args=["jobs", "close-checkouts"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "closed 0 forgotten check-outs"


def test_jobs_campaign_drafts_makes_the_coming_campaigns_once(app):
    from datetime import datetime, timezone

    assert app.test_cli_runner().invoke(args=["seed", "demo"]).exit_code == 0
    app.extensions["clock"] = lambda: datetime(2026, 9, 19, 16, 0, tzinfo=timezone.utc)  # 09-20 in Shanghai
    first = app.test_cli_runner().invoke(args=["jobs", "campaign-drafts"])
    assert first.exit_code == 0, first.output
    made = int(first.output.split()[1])
    assert made > 0 and made % 5 == 0  # five festival days in the 30 days after 2026-09-20, per organisation
    assert app.test_cli_runner().invoke(args=["jobs", "campaign-drafts"]).output.strip() == "made 0 draft campaigns"


def test_demo_data_lets_the_captain_check_in_the_demo_volunteer(app):
    import uuid

    from app.services import demo
    from tests import factories as f

    assert app.test_cli_runner().invoke(args=["seed", "demo"]).exit_code == 0
    with app.app_context():
        from models import Activity

        def bearer(openid):
            return f.bearer(db.session.scalar(select(Account).where(Account.mp_openid == openid)))

        volunteer, captain = bearer("sim_demo_zhao"), bearer("sim_captain")
        activity_id = db.session.scalar(select(Activity.id).where(Activity.title == demo.DEMO_ACTIVITY_TITLE))
    client = app.test_client()
    code = client.get("/api/v1/me/checkin-code", headers=volunteer).json["code"]
    answer = client.post(f"/api/v1/activities/{activity_id}/scans", json={"code": code, "nonce": uuid.uuid4().hex},
                         headers=captain)
    assert answer.status_code == 200 and answer.json["result"] == "checked_in"


def test_each_demo_start_leaves_an_activity_open_for_check_in_days_later(app):
    from datetime import datetime, timedelta, timezone

    from models import Activity, Signup

    first_start = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
    app.extensions["clock"] = lambda: first_start
    assert app.test_cli_runner().invoke(args=["seed", "demo"]).exit_code == 0
    with app.app_context():
        seeded = db.session.scalar(select(func.count()).select_from(Activity))
    again = app.test_cli_runner().invoke(args=["seed", "demo"])
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Activity)) == seeded  # still open: nothing new
    assert "already present" in again.output and "open for check-in" in again.output

    days_later = first_start + timedelta(days=3, hours=7)
    app.extensions["clock"] = lambda: days_later
    result = app.test_cli_runner().invoke(args=["seed", "demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        newest = db.session.scalars(select(Activity).order_by(Activity.id.desc())).first()
        assert newest.starts_at - timedelta(hours=1) <= days_later < newest.ends_at
        assert f"activity {newest.id} " in result.output
        zhao = db.session.scalar(select(Volunteer.id).join(Account, Account.id == Volunteer.account_id)
                                 .where(Account.mp_openid == "sim_demo_zhao"))
        assert db.session.scalar(select(Signup.volunteer_id).where(Signup.activity_id == newest.id)) == zhao


def test_accounts_disable_and_enable(app):
    from datetime import datetime, timezone

    with app.app_context():
        row = Account(mp_openid="sim_cli", created_at=datetime(2026, 11, 23, tzinfo=timezone.utc),
                      last_login_at=datetime(2026, 11, 23, tzinfo=timezone.utc))
        db.session.add(row)
        db.session.commit()
        account_id = row.id
    runner = app.test_cli_runner()
    assert runner.invoke(args=["accounts", "disable", str(account_id)]).exit_code != 0  # --reason is required
    disabled = runner.invoke(args=["accounts", "disable", str(account_id), "--reason", "冒用"])
    assert disabled.exit_code == 0, disabled.output
    with app.app_context():
        account = db.session.get(Account, account_id)
        assert account.disabled_at is not None and account.token_generation == 1
    enabled = runner.invoke(args=["accounts", "enable", str(account_id)])
    assert enabled.exit_code == 0, enabled.output
    with app.app_context():
        assert db.session.get(Account, account_id).disabled_at is None
    missing = runner.invoke(args=["accounts", "enable", "2000000000"])
    assert missing.exit_code != 0 and "找不到该账号" in missing.output
