"""The WeChat gateway against the simulator: tokens, retries, error classes, media, timeouts."""

from __future__ import annotations

import threading

import pytest
import redis as redis_lib

from app.config import thaw
from app.wechat.errors import WeChatAPIError, WeChatTimeout, WeChatUnavailable
from app.wechat.gateway import WeChatGateway


@pytest.fixture
def wechat_settings(app):
    return thaw(app.extensions["settings"]["wechat"])


def gateway_for(simulator, wechat_settings, redis_client, **changes) -> WeChatGateway:
    return WeChatGateway({**wechat_settings, "api_base": simulator.url, **changes}, redis_client=redis_client)


def tokens_issued(simulator, app_id: str) -> int:
    stats = simulator.stats()
    return stats["tokens_issued"].get(app_id, 0)


def test_code_to_session_maps_code_to_stable_openid(app, simulator):
    gateway = app.extensions["wechat_gateway"]
    first, again = gateway.code_to_session("alice"), gateway.code_to_session("alice")
    assert first.openid == again.openid == "sim_alice"


def test_invalid_code_is_a_permanent_error(app, simulator):
    with pytest.raises(WeChatAPIError) as caught:
        app.extensions["wechat_gateway"].code_to_session("invalid-code")
    assert caught.value.errcode == 40029 and not caught.value.retryable


def test_processes_share_one_token_through_redis(app, simulator, wechat_settings):
    redis_client = app.extensions["redis"]
    # Two gateways over one Redis stand for two worker processes.
    first = gateway_for(simulator, wechat_settings, redis_client)
    second = gateway_for(simulator, wechat_settings, redis_client)
    first.send_subscribe_message("sim_a", "tmpl", {"thing1": "你好"})
    second.send_subscribe_message("sim_b", "tmpl", {"thing1": "你好"})
    assert tokens_issued(simulator, wechat_settings["miniprogram"]["app_id"]) == 1
    assert first.miniprogram.tokens_fetched + second.miniprogram.tokens_fetched == 1


def test_a_cold_cache_costs_one_token_fetch_under_concurrency(app, simulator, wechat_settings):
    redis_client = app.extensions["redis"]
    gateways = [gateway_for(simulator, wechat_settings, redis_client) for _ in range(8)]
    barrier = threading.Barrier(len(gateways))
    tokens = []

    def fetch(gateway):
        barrier.wait()
        tokens.append(gateway.official.access_token)

    threads = [threading.Thread(target=fetch, args=(g,)) for g in gateways]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(tokens)) == 1
    assert sum(g.official.tokens_fetched for g in gateways) == 1


def test_rejected_token_is_refreshed_and_the_call_retried_once(app, simulator):
    gateway = app.extensions["wechat_gateway"]
    gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "预热"})
    simulator.fault(api="subscribe", errcode=40001, count=1)
    assert gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "重试"}) is not None
    assert [m["data"]["thing1"]["value"] for m in simulator.messages(api="subscribe")] == ["预热", "重试"]


def test_token_retry_is_bounded(app, simulator):
    gateway = app.extensions["wechat_gateway"]
    simulator.fault(api="subscribe", errcode=40001, count=50)
    with pytest.raises(WeChatAPIError) as caught:
        gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "x"})
    assert caught.value.errcode == 40001
    assert simulator.stats()["faults_served"] == 2  # the call and exactly one retry


@pytest.mark.parametrize("errcode, retryable", [(45009, True), (-1, True), (43101, False), (40003, False), (47003, False)])
def test_errcodes_are_classified(app, simulator, errcode, retryable):
    simulator.fault(api="subscribe", errcode=errcode, count=1)
    with pytest.raises(WeChatAPIError) as caught:
        app.extensions["wechat_gateway"].send_subscribe_message("sim_a", "tmpl", {"thing1": "x"})
    assert caught.value.errcode == errcode
    assert caught.value.retryable is retryable
    assert caught.value.ambiguous is False


def test_simulator_field_limits_come_back_as_47003(app, simulator):
    with pytest.raises(WeChatAPIError) as caught:
        app.extensions["wechat_gateway"].send_subscribe_message("sim_a", "tmpl", {"thing1": "字" * 21})
    assert caught.value.errcode == 47003


def test_a_slow_answer_is_an_ambiguous_timeout(app, simulator, wechat_settings):
    gateway = gateway_for(simulator, wechat_settings, app.extensions["redis"], timeout_seconds=0.3)
    gateway.official.access_token  # warm the token so only the send is slow
    simulator.fault(api="template", delay_seconds=1.5, count=1)
    with pytest.raises(WeChatTimeout) as caught:
        gateway.send_template_message("sim_a", "tmpl", {"thing1": "x"})
    assert caught.value.ambiguous and caught.value.retryable


def test_unreachable_wechat_is_unavailable_not_ambiguous(app, wechat_settings):
    gateway = WeChatGateway({**wechat_settings, "api_base": "http://127.0.0.1:9"}, redis_client=app.extensions["redis"])
    with pytest.raises(WeChatUnavailable) as caught:
        gateway.code_to_session("alice")
    assert caught.value.retryable and not caught.value.ambiguous


def test_token_still_works_when_redis_is_down(simulator, wechat_settings):
    dead_redis = redis_lib.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2, socket_timeout=0.2)
    gateway = gateway_for(simulator, wechat_settings, dead_redis)
    gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "x"})
    gateway.send_subscribe_message("sim_a", "tmpl", {"thing1": "y"})
    assert gateway.miniprogram.tokens_fetched == 1  # kept in the process while Redis is away


def test_mini_program_code_and_parametric_qr_are_png_images(app, simulator):
    gateway = app.extensions["wechat_gateway"]
    assert gateway.get_wxacode_unlimited("a=1", page="pages/index/index").startswith(b"\x89PNG")
    ticket = gateway.create_temporary_qrcode("checkin:42", 3600)
    assert ticket.ticket and ticket.expire_seconds == 3600
    assert gateway.show_qrcode(ticket.ticket).startswith(b"\x89PNG")
    with pytest.raises(WeChatAPIError) as caught:
        gateway.get_wxacode_unlimited("x" * 33)
    assert caught.value.errcode == 40169


def test_template_custom_and_security_calls_reach_the_simulator(app, simulator):
    gateway = app.extensions["wechat_gateway"]
    gateway.send_template_message("sim_a", "tmpl_t", {"thing1": "通知"}, client_msg_id="once")
    gateway.send_template_message("sim_a", "tmpl_t", {"thing1": "通知"}, client_msg_id="once")
    gateway.send_custom_text("sim_a", "你好")
    assert len(simulator.messages(api="template")) == 1
    assert simulator.messages(api="custom")[0]["content"] == "你好"
    assert gateway.check_text_security("sim_a", "周末一起去社区服务") == "pass"
    assert gateway.check_text_security("sim_a", "这里有赌博内容") == "risky"


# --- no WeChat call inside a transaction ----------------------------------------------------------

def _open_a_transaction():
    from sqlalchemy import select

    from app.extensions import db
    from models import Account

    db.session.execute(select(Account.id).limit(1))  # any statement begins one
    assert db.session().in_transaction()


@pytest.mark.parametrize("call", [
    lambda g: g.code_to_session("alice"),
    lambda g: g.send_subscribe_message("sim_a", "tmpl", {"thing1": "x"}),
    lambda g: g.check_text_security("sim_a", "你好"),
    lambda g: g.create_temporary_qrcode("checkin:1", 60),
    lambda g: g.send_group_robot_text("693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", "x"),
])
def test_under_test_the_gateway_refuses_to_call_inside_a_transaction(app, simulator, call):
    from app.extensions import db
    from app.wechat.gateway import CallInsideTransaction

    gateway = app.extensions["wechat_gateway"]
    with app.app_context():
        _open_a_transaction()
        with pytest.raises(CallInsideTransaction):
            call(gateway)
        db.session.commit()
        call(gateway)  # with the transaction ended, the same call goes out


def test_the_refusal_sends_nothing(app, simulator):
    from app.wechat.gateway import CallInsideTransaction

    with app.app_context():
        _open_a_transaction()
        with pytest.raises(CallInsideTransaction):
            app.extensions["wechat_gateway"].send_subscribe_message("sim_a", "tmpl", {"thing1": "x"})
    assert simulator.messages(api="subscribe") == []


@pytest.mark.parametrize("refuse, refused", [(True, True), (False, False)])
def test_outside_tests_the_setting_decides(make_app, refuse, refused):
    from app.extensions import db
    from app.wechat.gateway import CallInsideTransaction
    from tests.fakes import running_simulator

    app = make_app(wechat={"refuse_inside_transaction": refuse})
    app.config["TESTING"] = False
    with running_simulator(app), app.app_context():
        _open_a_transaction()
        if refused:
            with pytest.raises(CallInsideTransaction):
                app.extensions["wechat_gateway"].code_to_session("alice")
        else:
            assert app.extensions["wechat_gateway"].code_to_session("alice").openid == "sim_alice"
        db.session.rollback()


def test_calls_without_an_app_context_are_not_checked(app, simulator):
    # The delivery worker's send threads have no app context (and no session) at all.
    assert app.extensions["wechat_gateway"].code_to_session("alice").openid == "sim_alice"
