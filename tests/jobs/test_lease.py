"""The Redis lease: one holder, renewed and released only by its owner, free again once it lapses."""

from __future__ import annotations

import time

import pytest

from jobs.lease import RedisLease, new_owner_token

KEY = "test:lease"


@pytest.fixture
def client(app):
    # The suite's Redis: a real server in the PostgreSQL run, the in-process substitute otherwise.
    return app.extensions["redis"]


def lease(client, ttl_seconds: float = 20) -> RedisLease:
    return RedisLease(client, KEY, ttl_seconds=ttl_seconds)


def test_owner_tokens_are_unique_per_lease(client):
    assert new_owner_token() != new_owner_token()
    assert lease(client).owner != lease(client).owner


def test_the_first_acquires_and_the_second_cannot_while_it_is_held(client):
    first, second = lease(client), lease(client)
    assert first.acquire()
    assert not second.acquire()
    assert not first.acquire()  # taking it is not renewing it
    assert first.holder() == first.owner


def test_renewing_extends_the_lease_to_a_full_term(client):
    held = lease(client, ttl_seconds=20)
    assert held.acquire()
    client.pexpire(KEY, 1000)
    assert held.renew()
    assert 19_000 < client.pttl(KEY) <= 20_000


def test_a_lease_cannot_be_renewed_or_released_by_another(client):
    first, second = lease(client), lease(client)
    assert first.acquire()
    assert not second.renew()
    assert not second.release()
    assert first.holder() == first.owner


def test_a_lapsed_lease_is_taken_over_and_the_old_holder_cannot_renew_or_release_it(client):
    first, second = lease(client, ttl_seconds=0.05), lease(client)
    assert first.acquire()
    deadline = time.monotonic() + 10
    while client.exists(KEY) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not client.exists(KEY), "the lease did not lapse"
    assert second.acquire()
    assert not first.renew()
    assert not first.release()
    assert second.holder() == second.owner


def test_release_frees_the_lease_for_the_next(client):
    first, second = lease(client), lease(client)
    assert first.acquire()
    assert first.release()
    assert first.holder() is None
    assert not first.renew()
    assert second.acquire()
