"""Notification webhooks and the delivery outbox (see docs/operations.md, Notifications).

A run event (COMPLETED, FAILED, PAUSED, CANCELED of a top-level run) becomes one
``webhook_deliveries`` row per matching enabled subscription, inserted in the
transaction that changed the run's status, so an event is never lost and never
recorded for a change that rolled back. Background loops in every API and worker
process claim due rows with a conditional update (exactly one process sends each
attempt) and record the outcome; the rows are also the delivery log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, or_, select, update

from spurline.engine.clock import new_id
from spurline.engine.states import RunStatus
from spurline.exceptions import NotFound
from spurline.store._raw import fetchall, placeholders
from spurline.store.orm import DELIVERIES, PAUSES, WEBHOOKS

#: The run statuses a subscription can be told about.
NOTIFIED_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.PAUSED, RunStatus.CANCELED)


class DeliveryStatus(StrEnum):
    """Where a delivery stands: waiting (PENDING), being sent, or done either way."""

    PENDING = "PENDING"
    SENDING = "SENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@dataclass
class WebhookRecord:
    """A subscription as shown to people: everything but its secret."""

    id: str
    url: str
    events: list[str]
    workflow_id: str | None
    description: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass
class DeliveryRecord:
    """One delivery and its log: ``attempts`` made, last HTTP status and error."""

    id: str
    subscription_id: str
    run_id: str
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery this process claimed, with where and how to send it."""

    id: str
    run_id: str
    event: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    subscription_id: str
    url: str
    secret: str


_HOOK_COLS = [c for c in WEBHOOKS.c if c.name != "secret"]
_DELIVERY_COLS = [c for c in DELIVERIES.c if c.name not in ("claimed_by", "claim_expires_at")]


def _webhook(row: Any) -> WebhookRecord:
    data = row._asdict()
    data["events"] = [e for e in data["events"].split(",") if e]
    return WebhookRecord(**data)


# -- subscriptions ----------------------------------------------------------------


def create_webhook(conn: Connection, hook: WebhookRecord, secret: str) -> WebhookRecord:
    """Insert a subscription; NotFound when its ``workflow_id`` names no workflow."""
    if hook.workflow_id is not None:
        from spurline.store.workflows import get_workflow

        get_workflow(conn, hook.workflow_id)
    values = {**hook.__dict__, "events": ",".join(hook.events), "secret": secret}
    conn.execute(WEBHOOKS.insert(), [values])
    return hook


def list_webhooks(conn: Connection) -> list[WebhookRecord]:
    """Every subscription, oldest first."""
    rows = conn.execute(select(*_HOOK_COLS).order_by(WEBHOOKS.c.created_at, WEBHOOKS.c.id))
    return [_webhook(r) for r in rows]


def get_webhook(conn: Connection, hook_id: str) -> WebhookRecord:
    """One subscription; NotFound when absent."""
    row = conn.execute(select(*_HOOK_COLS).where(WEBHOOKS.c.id == hook_id)).first()
    if row is None:
        raise NotFound("Webhook", hook_id)
    return _webhook(row)


def webhook_secret(conn: Connection, hook_id: str) -> str:
    """The subscription's signing secret; NotFound when absent."""
    secret = conn.execute(select(WEBHOOKS.c.secret).where(WEBHOOKS.c.id == hook_id)).scalar()
    if secret is None:
        raise NotFound("Webhook", hook_id)
    return str(secret)


def update_webhook(
    conn: Connection, hook_id: str, changes: dict[str, Any], at: datetime
) -> WebhookRecord:
    """Change some of url, secret, events (a list), description, enabled; NotFound when absent."""
    values = dict(changes)
    if "events" in values:
        values["events"] = ",".join(values["events"])
    values["updated_at"] = at
    if conn.execute(update(WEBHOOKS).where(WEBHOOKS.c.id == hook_id).values(values)).rowcount != 1:
        raise NotFound("Webhook", hook_id)
    return get_webhook(conn, hook_id)


def delete_webhook(conn: Connection, hook_id: str) -> None:
    """Delete a subscription with its delivery log; NotFound when absent."""
    if conn.execute(delete(WEBHOOKS).where(WEBHOOKS.c.id == hook_id)).rowcount != 1:
        raise NotFound("Webhook", hook_id)


# -- the outbox --------------------------------------------------------------------

# Asked at every run's end, on the driver's cursor (store/_raw.py).
_MATCHING = (
    "SELECT id, events FROM webhook_subscriptions"
    " WHERE enabled = {} AND (workflow_id IS NULL OR workflow_id = {})"
)
_OPEN_PAUSES = (
    select(PAUSES.c.id, PAUSES.c.node_id, PAUSES.c.pause_message)
    .where(PAUSES.c.run_id == bindparam("b_run_id"), PAUSES.c.resume_time.is_(None))
    .order_by(PAUSES.c.pause_time, PAUSES.c.id)
)


def enqueue(conn: Connection, run: dict[str, Any], status: RunStatus, at: datetime) -> int:
    """Record the event ``status`` of ``run`` for every matching subscription.

    ``run`` holds the run's ``id``, ``workflow_id``, ``run_type``, ``start_time``,
    ``end_time`` and ``message`` as they are after the change. A PAUSED event lists
    the run's unresolved pauses (their ids sign the approve/decline links). Runs
    inside the status change's transaction. Returns the number of deliveries queued.
    """
    hooks = [
        hook_id
        for hook_id, events in fetchall(
            conn,
            placeholders(_MATCHING, conn.dialect.name == "postgresql"),
            (True, run["workflow_id"]),
        )
        if status.value in events.split(",")
    ]
    if not hooks:
        return 0
    payload: dict[str, Any] = {
        "run": {
            **run,
            "status": status.value,
            "start_time": _iso(run["start_time"]),
            "end_time": _iso(run["end_time"]),
        },
        "occurred_at": at.isoformat(),
    }
    if status is RunStatus.PAUSED:
        payload["pauses"] = [
            {"pause_id": pid, "node_id": node_id, "message": message}
            for pid, node_id, message in conn.execute(_OPEN_PAUSES, {"b_run_id": run["id"]})
        ]
    conn.execute(
        DELIVERIES.insert(),
        [
            {
                "id": new_id("N"),
                "subscription_id": hook_id,
                "run_id": run["id"],
                "event": status.value,
                "payload": payload,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": at,
                "claimed_by": None,
                "claim_expires_at": None,
                "last_status_code": None,
                "last_error": None,
                "created_at": at,
                "delivered_at": None,
            }
            for hook_id in hooks
        ],
    )
    return len(hooks)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def claim_due(
    conn: Connection, owner: str, at: datetime, limit: int, hold_s: float, max_attempts: int
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due deliveries for ``owner`` and count the attempt.

    Due: PENDING whose ``next_attempt_at`` has come, or SENDING whose claim expired
    (the process sending it stopped). Each claim is a conditional update on the
    status and attempt count seen, so of several processes exactly one claims a
    delivery. An expired claim that used the last attempt ends FAILED instead.
    When nothing is due this is one indexed SELECT.
    """
    due = or_(
        and_(
            DELIVERIES.c.status == DeliveryStatus.PENDING.value,
            DELIVERIES.c.next_attempt_at <= at,
        ),
        and_(
            DELIVERIES.c.status == DeliveryStatus.SENDING.value,
            DELIVERIES.c.claim_expires_at < at,
        ),
    )
    candidates = conn.execute(
        select(DELIVERIES.c.id, DELIVERIES.c.status, DELIVERIES.c.attempts)
        .where(due)
        .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
        .limit(limit)
    ).all()
    claimed: list[str] = []
    for delivery_id, status, attempts in candidates:
        seen = DELIVERIES.update().where(
            DELIVERIES.c.id == delivery_id,
            DELIVERIES.c.status == status,
            DELIVERIES.c.attempts == attempts,
        )
        if attempts >= max_attempts:  # an expired claim of the last attempt
            error = "the process sending the last attempt stopped"
            conn.execute(seen.values(status=DeliveryStatus.FAILED.value, last_error=error))
            continue
        won = conn.execute(
            seen.values(
                status=DeliveryStatus.SENDING.value,
                attempts=attempts + 1,
                claimed_by=owner,
                claim_expires_at=at + timedelta(seconds=hold_s),
            )
        ).rowcount
        if won == 1:
            claimed.append(delivery_id)
    if not claimed:
        return []
    rows = conn.execute(
        select(
            DELIVERIES.c.id,
            DELIVERIES.c.run_id,
            DELIVERIES.c.event,
            DELIVERIES.c.payload,
            DELIVERIES.c.attempts,
            DELIVERIES.c.created_at,
            WEBHOOKS.c.id,
            WEBHOOKS.c.url,
            WEBHOOKS.c.secret,
        )
        .join(WEBHOOKS, WEBHOOKS.c.id == DELIVERIES.c.subscription_id)
        .where(DELIVERIES.c.id.in_(claimed))
        .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
    )
    return [ClaimedDelivery(*r) for r in rows]


def finish_attempt(
    conn: Connection,
    delivery_id: str,
    owner: str,
    *,
    status: DeliveryStatus,
    at: datetime,
    next_attempt_at: datetime | None = None,
    status_code: int | None = None,
    error: str | None = None,
) -> bool:
    """Record an attempt's outcome: DELIVERED, PENDING again (``next_attempt_at``), or
    FAILED. Applies only while ``owner`` still holds the claim; returns whether it did.
    """
    values: dict[str, Any] = {
        "status": status.value,
        "claimed_by": None,
        "claim_expires_at": None,
        "last_status_code": status_code,
        "last_error": error,
    }
    if status is DeliveryStatus.DELIVERED:
        values["delivered_at"] = at
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    result = conn.execute(
        update(DELIVERIES)
        .where(
            DELIVERIES.c.id == delivery_id,
            DELIVERIES.c.claimed_by == owner,
            DELIVERIES.c.status == DeliveryStatus.SENDING.value,
        )
        .values(values)
    )
    return result.rowcount == 1


def list_deliveries(
    conn: Connection,
    hook_id: str,
    page: int,
    page_size: int,
    status: DeliveryStatus | None = None,
    run_id: str | None = None,
) -> tuple[list[DeliveryRecord], int]:
    """One page of a subscription's deliveries, newest first, and their total count.

    Raises:
        NotFound: unknown subscription.
    """
    get_webhook(conn, hook_id)
    where = [DELIVERIES.c.subscription_id == hook_id]
    if status is not None:
        where.append(DELIVERIES.c.status == status.value)
    if run_id is not None:
        where.append(DELIVERIES.c.run_id == run_id)
    total = conn.execute(select(func.count()).select_from(DELIVERIES).where(*where)).scalar_one()
    rows = conn.execute(
        select(*_DELIVERY_COLS)
        .where(*where)
        .order_by(DELIVERIES.c.created_at.desc(), DELIVERIES.c.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    return [DeliveryRecord(**r._asdict()) for r in rows], total


def pending_count(conn: Connection) -> int:
    """Deliveries not finished yet (PENDING or SENDING), for the metrics gauge."""
    unfinished = [DeliveryStatus.PENDING.value, DeliveryStatus.SENDING.value]
    return int(
        conn.execute(
            select(func.count()).select_from(DELIVERIES).where(DELIVERIES.c.status.in_(unfinished))
        ).scalar_one()
    )


def pause_is_open(conn: Connection, pause_id: str) -> bool:
    """Whether the pause record exists and is not resolved yet."""
    row = conn.execute(select(PAUSES.c.resume_time).where(PAUSES.c.id == pause_id)).first()
    return row is not None and row[0] is None
