"""The foundation's whole flow through the simulator: login → register → approve → message delivered."""

from __future__ import annotations

from app.extensions import db
from tests import factories as f
from tests.fakes import deliver_all


def test_login_register_approve_and_the_decision_reaches_wechat(app, client, simulator, now):
    app.extensions["clock"] = lambda: now
    with app.app_context():
        tree = f.region_tree()
        org = f.organization("甲区志愿者协会", tree["district"], now)
        f.organizer("sim_organizer", org, now)
        community_id = tree["community"].id
        db.session.commit()

    login = client.post("/api/v1/auth/login", json={"code": "alice"})
    assert login.status_code == 200 and login.json["registered"] is False
    volunteer_headers = {"Authorization": f"Bearer {login.json['token']}"}

    registered = client.post("/api/v1/volunteers", headers=volunteer_headers, json={
        "real_name": "李爱丽", "mobile": "13511112222", "birth_date": "1995-04-01",
        "categories": ["youth"], "skills": ["英语翻译"], "region_id": community_id,
    })
    assert registered.status_code == 201
    # The mini-program asked for the registration-result subscription while registering; the user accepted.
    accepted = client.post("/api/v1/me/subscriptions", headers=volunteer_headers, json={
        "report_id": "register-0001", "results": {"sim_tmpl_registration_result": "accept"}})
    assert accepted.status_code == 200 and accepted.json["credits"] == {"sim_tmpl_registration_result": 1}
    assert client.post("/api/v1/auth/login", json={"code": "alice"}).json["registered"] is True

    organizer_login = client.post("/api/v1/auth/login", json={"code": "organizer"})
    organizer_headers = {"Authorization": f"Bearer {organizer_login.json['token']}"}
    pending = client.get("/api/v1/volunteers?status=pending", headers=organizer_headers).json
    assert [item["real_name"] for item in pending["items"]] == ["李*丽"]  # the directory masks names
    assert pending["items"][0]["mobile"] == "135****2222"

    decided = client.post(f"/api/v1/volunteers/{pending['items'][0]['id']}/review", headers=organizer_headers,
                          json={"decision": "approve"})
    assert decided.status_code == 200
    assert simulator.messages(touser="sim_alice") == []  # sending happens after commit, from the outbox

    assert deliver_all(app, now) == {"sent": 1}
    delivered = simulator.messages(touser="sim_alice")
    assert len(delivered) == 1
    assert delivered[0]["template_id"] == "sim_tmpl_registration_result"
    assert delivered[0]["data"]["phrase2"]["value"] == "已通过"
    assert client.get("/api/v1/me", headers=volunteer_headers).json["status"] == "approved"
    inbox = client.get("/api/v1/me/messages", headers=volunteer_headers).json
    assert inbox["unread"] == 1 and inbox["messages"][0]["kind"] == "registration_result"


def test_login_with_a_bad_code_is_refused(client, simulator):
    response = client.post("/api/v1/auth/login", json={"code": "invalid-123"})
    assert response.status_code == 401 and response.json["error"]["code"] == "invalid_login_code"


def test_login_when_wechat_is_down_is_503_not_500(client):
    # No simulator runs: the gateway points at a closed port.
    response = client.post("/api/v1/auth/login", json={"code": "alice"})
    assert response.status_code == 503 and response.json["error"]["code"] == "wechat_unavailable"


def test_wechat_login_rate_limit_is_429(client, simulator):
    simulator.fault(api="jscode2session", errcode=45011, count=1)
    response = client.post("/api/v1/auth/login", json={"code": "alice"})
    assert response.status_code == 429 and response.json["error"]["code"] == "login_too_frequent"


def test_concurrent_first_logins_create_one_account(app, simulator):
    import threading

    from sqlalchemy import func, select

    from models import Account

    statuses = []

    def login():
        statuses.append(app.test_client().post("/api/v1/auth/login", json={"code": "twin"}).status_code)

    threads = [threading.Thread(target=login) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Account)) == 1
