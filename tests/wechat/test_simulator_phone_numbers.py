"""The simulator's getuserphonenumber: a code names its number, is spent once, and needs a mini-program token."""

from __future__ import annotations

import pytest

from tests.wechat.test_simulator import MINI, OFFICIAL, T0, client, clock, sim, sleeps, token_of  # noqa: F401


def phone(client, code, account=MINI):
    return client.post(f"/wxa/business/getuserphonenumber?access_token={token_of(client, account)}",
                       json={"code": code}).json


def test_a_code_names_its_number_with_the_watermark_and_is_spent_once(client):
    answer = phone(client, "phone_13900000001_a")
    assert answer["errcode"] == 0
    assert answer["phone_info"] == {"phoneNumber": "13900000001", "purePhoneNumber": "13900000001", "countryCode": "86",
                                    "watermark": {"timestamp": int(T0), "appid": MINI["app_id"]}}
    assert phone(client, "phone_13900000001_a")["errcode"] == 40029
    assert phone(client, "phone_13900000001_b")["errcode"] == 0  # another code for the same number


def test_a_number_abroad_keeps_its_country_code(client):
    info = phone(client, "phone1_2025550123")["phone_info"]
    assert (info["phoneNumber"], info["purePhoneNumber"], info["countryCode"]) == ("+12025550123", "2025550123", "1")


@pytest.mark.parametrize("code", ["", "invalid_code", "phone_", "13900000001"])
def test_codes_that_name_no_number_are_refused(client, code):
    assert phone(client, code)["errcode"] in (40029, 41008)


def test_the_official_account_may_not_ask(client):
    assert phone(client, "phone_13900000001", OFFICIAL)["errcode"] == 48001
