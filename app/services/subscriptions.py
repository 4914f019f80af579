"""The ledger of mini-program subscribe-message credits.

A user's "accept" in wx.requestSubscribeMessage allows exactly one send of that template, and
WeChat offers no way to ask how many remain, so we count: every accept adds a credit, every
subscribe message written to the outbox spends one. Accepts arrive from two sources, usually
both for the same tap: the mini-program reports the result (`POST /api/v1/me/subscriptions`) and
WeChat pushes `subscribe_msg_popup_event`. A grant from one source is matched to an unmatched
grant of the other within MATCH_WINDOW and then adds nothing; each report is counted once by its
dedup key. A later rejection in the settings (`subscribe_msg_change_event`) or WeChat's 43101
clears the template's credits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, delete, exists, select, update
from sqlalchemy.orm import aliased

from app.db import insert_unless_present, upsert_insert
from app.extensions import db
from models import Notification, SubscriptionCredit, SubscriptionGrant

MATCH_WINDOW = timedelta(minutes=2)
SOURCES = ("app", "event")


def spend(account_id: int, template_id: str, *, now: datetime) -> bool:
    """Take one credit if there is one (one conditional UPDATE); True if taken."""
    return bool(db.session.execute(
        update(SubscriptionCredit)
        .where(SubscriptionCredit.account_id == account_id, SubscriptionCredit.template_id == template_id,
               SubscriptionCredit.remaining > 0)
        .values(remaining=SubscriptionCredit.remaining - 1, updated_at=now)
    ).rowcount)


def spend_many(account_ids: Iterable[int], template_id: str, *, now: datetime) -> set[int]:
    """Take one credit from each of these people who has one; return who paid."""
    ids = list(account_ids)
    if not ids:
        return set()
    rows = db.session.execute(
        update(SubscriptionCredit)
        .where(SubscriptionCredit.account_id.in_(ids), SubscriptionCredit.template_id == template_id,
               SubscriptionCredit.remaining > 0)
        .values(remaining=SubscriptionCredit.remaining - 1, updated_at=now)
        .returning(SubscriptionCredit.account_id)
    )
    return set(rows.scalars())


def grant(account_id: int, template_id: str, *, source: str, dedup_key: str, granted_at: datetime,
          now: datetime) -> bool:
    """Record one accept; True if it added a credit (False: a repeat, or the other source's copy of a tap)."""
    if source not in SOURCES:
        raise ValueError(f"unknown grant source {source!r}")
    _lock_credit_row(account_id, template_id, now)
    inserted = _insert_grant(account_id, template_id, source, dedup_key, granted_at, now)
    if inserted is None:
        return False
    twin = _unmatched_twin(account_id, template_id, source, granted_at, inserted)
    if twin is not None:
        db.session.execute(update(SubscriptionGrant).where(SubscriptionGrant.id == inserted)
                           .values(matched_grant_id=twin))
        return False
    db.session.execute(
        update(SubscriptionCredit)
        .where(SubscriptionCredit.account_id == account_id, SubscriptionCredit.template_id == template_id)
        .values(remaining=SubscriptionCredit.remaining + 1, updated_at=now)
    )
    return True


def clear(account_id: int, template_id: str, *, now: datetime, connection: Connection | None = None) -> None:
    """The user refused the template (in the settings, or WeChat answered 43101): no credit is left.

    `connection`: the delivery worker's own connection, so the clearing commits with the send's outcome.
    """
    (connection or db.session).execute(
        update(SubscriptionCredit)
        .where(SubscriptionCredit.account_id == account_id, SubscriptionCredit.template_id == template_id)
        .values(remaining=0, updated_at=now)
    )


def credits(account_id: int) -> dict[str, int]:
    rows = db.session.execute(select(SubscriptionCredit.template_id, SubscriptionCredit.remaining)
                              .where(SubscriptionCredit.account_id == account_id))
    return {template_id: remaining for template_id, remaining in rows}


def record_delivery_results(results: Mapping[int, int], *, now: datetime) -> int:
    """Store WeChat's final results (msgid → ErrorCode) of subscribe sends; return rows updated."""
    updated = 0
    for msgid, errcode in results.items():
        updated += db.session.execute(
            update(Notification).where(Notification.wechat_msgid == msgid)
            .values(delivery_errcode=errcode, delivery_reported_at=now)
        ).rowcount
    return updated


def _lock_credit_row(account_id: int, template_id: str, now: datetime) -> None:
    """Make sure the credit row exists and lock it, so one person's grants for a template run one at a time."""
    db.session.execute(
        upsert_insert(SubscriptionCredit).values(account_id=account_id, template_id=template_id, remaining=0, updated_at=now)
        .on_conflict_do_nothing(index_elements=["account_id", "template_id"])
    )
    # SQLite has no row locks; its transactions already run one at a time (BEGIN IMMEDIATE).
    db.session.execute(
        select(SubscriptionCredit.id)
        .where(SubscriptionCredit.account_id == account_id, SubscriptionCredit.template_id == template_id)
        .with_for_update()
    )


def _insert_grant(account_id: int, template_id: str, source: str, dedup_key: str, granted_at: datetime,
                  now: datetime) -> int | None:
    return insert_unless_present(SubscriptionGrant, {
        "dedup_key": dedup_key[:200], "account_id": account_id, "template_id": template_id, "source": source,
        "granted_at": granted_at, "created_at": now,
    })


def _unmatched_twin(account_id: int, template_id: str, source: str, granted_at: datetime, own_id: int) -> int | None:
    """The oldest grant of the other source near this one that no grant has matched yet."""
    matcher = aliased(SubscriptionGrant)
    return db.session.scalar(
        select(SubscriptionGrant.id)
        .where(SubscriptionGrant.account_id == account_id, SubscriptionGrant.template_id == template_id,
               SubscriptionGrant.source != source, SubscriptionGrant.matched_grant_id.is_(None),
               SubscriptionGrant.id != own_id,
               SubscriptionGrant.granted_at.between(granted_at - MATCH_WINDOW, granted_at + MATCH_WINDOW),
               ~exists().where(and_(matcher.matched_grant_id == SubscriptionGrant.id)))
        .order_by(SubscriptionGrant.id).limit(1)
    )


def remove_all(account_id: int) -> None:
    """Drop every credit and reported grant of the account (account deletion)."""
    # A grant's match is always a grant of the same account (and the link is ON DELETE SET NULL).
    db.session.execute(delete(SubscriptionGrant).where(SubscriptionGrant.account_id == account_id)
                       .execution_options(synchronize_session=False))
    db.session.execute(delete(SubscriptionCredit).where(SubscriptionCredit.account_id == account_id)
                       .execution_options(synchronize_session=False))
