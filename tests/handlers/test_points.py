"""The volunteer's points over HTTP: balance and history, newest first, paged by cursor."""

from __future__ import annotations

from datetime import timedelta

from app.extensions import db
from app.services.points import ledger
from tests import factories as f


def test_my_points_show_the_balance_and_each_line_with_the_balance_after_it(app_context, client, now):
    w = f.World(now).build("tree", "org", "team")
    volunteer = w.volunteer
    headers = f.bearer(volunteer.account)
    db.session.commit()
    assert client.get("/api/v1/me/points", headers=headers).get_json() == {"balance": 0, "items": [],
                                                                          "next_cursor": None}
    ledger.earn("earn-1", 1, volunteer.id, 30, "service_record:1", now)
    ledger.hold("hold-1", 1, volunteer.id, 20, "redemption:1", now + timedelta(minutes=1), now + timedelta(days=1))
    db.session.commit()
    first = client.get("/api/v1/me/points?limit=1", headers=headers).get_json()
    assert first["balance"] == 10
    assert [(i["amount"], i["balance_after"], i["code"], i["code_label"]) for i in first["items"]] == [
        (-20, 10, "hold", "兑换冻结")]
    second = client.get(f"/api/v1/me/points?limit=1&cursor={first['next_cursor']}", headers=headers).get_json()
    assert [(i["amount"], i["balance_after"], i["reference"]) for i in second["items"]] == [(30, 30, "service_record:1")]
    assert client.get("/api/v1/me/points?cursor=garbage", headers=headers).status_code == 422
    assert client.get("/api/v1/me/points").status_code == 401
