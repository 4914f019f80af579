"""Data the end-to-end tests make for themselves through the API, and the console's login step.

Each test that changes data makes its own (a new volunteer, a new activity) so the tests stay
independent of each other and of their order on the shared stack.
"""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta, timezone

from playwright.sync_api import Page, expect

from tests.e2e.stack import Stack

SHANGHAI = timezone(timedelta(hours=8))
DEMO_ORGANIZATION = "渝中区志愿者协会"
MEDICAL_TEAM = "医疗卫生志愿服务队"
_names = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦尤许何吕施张孔曹严华金魏陶姜"


def unique_name(prefix: str = "") -> str:
    """A Chinese name no other test uses (two or three characters after the surname)."""
    rng = random.Random(uuid.uuid4().int)
    return prefix + rng.choice(_names) + "".join(rng.choice("明芳伟静强磊洋艳勇军杰娟涛超霞平刚桂英") for _ in range(2))


def unique_mobile() -> str:
    return "139" + f"{uuid.uuid4().int % 10**8:08d}"


def region_named(stack: Stack, token: str, *path: str) -> dict:
    """The region reached by following names from the top (e.g. "重庆市", "渝中区", "解放碑街道")."""
    parent = None
    node: dict = {}
    for name in path:
        query = {"parent_id": parent} if parent else {}
        answer = stack.api("GET", "regions", token=token, params=query)
        assert answer.status_code == 200, answer.text
        matches = [item for item in answer.json()["items"] if item["name"] == name]
        assert matches, f"no region {name} under {parent}: {answer.text}"
        node = matches[0]
        parent = node["id"]
    return node


def children(stack: Stack, token: str, parent_id: int) -> list[dict]:
    answer = stack.api("GET", "regions", token=token, params={"parent_id": parent_id})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def a_community_of_yuzhong(stack: Stack, token: str) -> dict:
    """解放碑社区 of 解放碑街道, 渝中区 (the demo's)."""
    return region_named(stack, token, "重庆市", "渝中区", "解放碑街道", "解放碑社区")


def register_volunteer(stack: Stack, code: str, *, name: str | None = None) -> tuple[str, dict]:
    """A new account (mini-program code `code`) registered as a volunteer of 解放碑社区: (token, MeView)."""
    token = stack.mp_login(code)
    community = a_community_of_yuzhong(stack, token)
    answer = stack.api("POST", "volunteers", token=token, json={
        "real_name": name or unique_name(), "mobile": unique_mobile(), "birth_date": "1990-05-01",
        "region_id": community["id"]})
    assert answer.status_code == 201, answer.text
    return token, answer.json()


def approved_volunteer(stack: Stack, code: str, *, name: str | None = None) -> tuple[str, dict]:
    """A new volunteer, approved by the demo organiser through the API."""
    token, me = register_volunteer(stack, code, name=name)
    answer = stack.api("POST", f"volunteers/{me['id']}/review", token=stack.mp_login("organizer"),
                       json={"decision": "approve"})
    assert answer.status_code == 200, answer.text
    return token, me


def demo_organization_id(stack: Stack, token: str) -> int:
    answer = stack.api("GET", "organizations", token=token)
    assert answer.status_code == 200, answer.text
    return next(org["id"] for org in answer.json()["items"] if org["name"] == DEMO_ORGANIZATION)


def team_id(stack: Stack, token: str, organization_id: int, name: str) -> int:
    answer = stack.api("GET", f"organizations/{organization_id}/teams", token=token)
    assert answer.status_code == 200, answer.text
    return next(team["id"] for team in answer.json()["items"] if team["name"] == name)


def open_activity(stack: Stack, *, title: str, team: str | None = MEDICAL_TEAM, starts_in: timedelta = timedelta(minutes=10),
                  organizer: str = "organizer") -> dict:
    """A published activity of the demo organisation (its team `team`), open for check-in `starts_in` before it starts."""
    token = stack.mp_login(organizer)
    organization_id = demo_organization_id(stack, token)
    community = a_community_of_yuzhong(stack, token)
    starts = datetime.now(SHANGHAI).replace(second=0, microsecond=0) + starts_in
    body = {"organization_id": organization_id, "region_id": community["id"], "title": title,
            "address": "解放碑社区服务中心", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=3)).isoformat(), "capacity": 30, "publish": True}
    if team:
        body["team_id"] = team_id(stack, token, organization_id, team)
    answer = stack.api("POST", "activities", token=token, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def sign_up(stack: Stack, token: str, activity_id: int) -> dict:
    answer = stack.api("POST", f"activities/{activity_id}/signups", token=token, json={})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def console_login(page: Page, stack: Stack, openid: str) -> None:
    """Log the page in by a one-time login link and wait for the console's header."""
    page.goto(stack.login_link(openid))
    expect(page.locator("[data-test=user-name]")).not_to_be_empty()
