"""Notification webhooks: subscriptions, signed deliveries, and signed pause links.

See docs/operations.md (Notifications) for the contract this implements:

- Deliveries follow the Standard Webhooks scheme (https://www.standardwebhooks.com):
  headers ``webhook-id`` (the delivery id, the same on every retry),
  ``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``
  (``v1,`` + base64 of HMAC-SHA256 over ``"{id}.{timestamp}.{body}"`` keyed with the
  base64-decoded subscription secret, given as ``whsec_<base64>``).
- A failed attempt (no 2xx within ``SPURLINE_WEBHOOK_TIMEOUT_S``) is retried after
  ``SPURLINE_WEBHOOK_BACKOFF_S`` doubling each time (at most
  ``SPURLINE_WEBHOOK_BACKOFF_MAX_S``, plus up to 10 % jitter) until
  ``SPURLINE_WEBHOOK_MAX_ATTEMPTS``; then the delivery is FAILED.
- A PAUSED event carries, per paused node, an approve and a decline link signed with
  the subscription's secret; POSTing to one resolves that pause once, with no token,
  until ``SPURLINE_PAUSE_LINK_TTL_S`` after the event.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
from itsdangerous import BadSignature, URLSafeSerializer
from standardwebhooks import Webhook

from spurline._version import __version__
from spurline.engine.clock import new_id, now
from spurline.engine.pauses import PauseAction
from spurline.engine.records import RunSnapshot
from spurline.exceptions import Conflict, InputsInvalid, LinkExpired, LinkInvalid, NotFound
from spurline.services import metrics
from spurline.services._store import log_loop_error
from spurline.settings import Settings
from spurline.store import notifications as queries
from spurline.store.control import PauseDecision
from spurline.store.notifications import (
    NOTIFIED_STATUSES,
    ClaimedDelivery,
    DeliveryRecord,
    DeliveryStatus,
    WebhookRecord,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

SECRET_PREFIX = "whsec_"
_LINK_SALT = "spurline.pause-link"
_LINK_ACTIONS = {"approve": PauseAction.APPROVE, "decline": PauseAction.DECLINE}
#: How long past the attempt's time limit a claim lasts before another process may
#: take the delivery over (the sender died).
_CLAIM_MARGIN_S = 30.0


def check_secret(secret: str) -> str:
    """The secret if it is ``whsec_`` + base64 of 24 to 64 random bytes.

    Raises:
        InputsInvalid: anything else (422 naming the ``secret`` field).
    """
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(body, validate=True) if secret.startswith(SECRET_PREFIX) else b""
    except (binascii.Error, ValueError):
        key = b""
    if not 24 <= len(key) <= 64:
        msg = "secret must be 'whsec_' followed by the base64 of 24 to 64 random bytes"
        raise InputsInvalid([{"path": ("secret",), "msg": msg, "type": "value_error"}])
    return secret


def check_url(url: str) -> str:
    """The URL if it is absolute http(s); 422 naming ``url`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        msg = f"url must be an absolute http or https URL; got {url!r}"
        raise InputsInvalid([{"path": ("url",), "msg": msg, "type": "value_error"}])
    return url


def check_events(events: list[str]) -> list[str]:
    """The events, deduplicated in the canonical order; 422 for an unknown or empty list."""
    known = [s.value for s in NOTIFIED_STATUSES]
    unknown = [e for e in events if e not in known]
    if unknown or not events:
        msg = f"events must be a non-empty list of {', '.join(known)}; got {unknown or events}"
        raise InputsInvalid([{"path": ("events",), "msg": msg, "type": "value_error"}])
    return [e for e in known if e in events]


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Seconds to wait after ``attempts`` failed attempts: ``base_s * 2**(attempts-1)``,
    at most ``max_s``, plus up to 10 % jitter so retries of an outage spread out."""
    delay = min(base_s * 2 ** max(attempts - 1, 0), max_s)
    return float(delay * (1 + 0.1 * random.random()))


def _check_all(*checks: tuple[Callable[[Any], Any], Any]) -> None:
    """Run every check; one InputsInvalid listing all their problems."""
    problems: list[dict[str, Any]] = []
    for check, value in checks:
        try:
            check(value)
        except InputsInvalid as exc:
            problems += exc.problems
    if problems:
        raise InputsInvalid(problems)


@dataclass(frozen=True)
class LinkClaim:
    """What a signed pause link asks for, after its signature was checked."""

    run_id: str
    node_id: str
    pause_id: str
    action: PauseAction
    expires_at: datetime


class StoreAccess(Protocol):
    """Async access to the store: reads on a thread, writes through the writer."""

    async def read(self, fn: Callable[[Any], T]) -> T:
        """Run a read query."""
        ...

    async def write(self, fn: Callable[[Any], T]) -> T:
        """Run a write transaction."""
        ...


PauseActor = Callable[[str, PauseDecision], Awaitable[RunSnapshot]]


class NotificationService:
    """Webhook subscriptions, the delivery loop of this process, and pause links.

    Args:
        store: async store access.
        settings: the ``SPURLINE_WEBHOOK_*``, ``SPURLINE_PUBLIC_URL`` and
            ``SPURLINE_PAUSE_LINK_TTL_S`` settings.
        owner: this process's id, the owner of its delivery claims.
        act_on_pause: resolves a pause as ``POST /wf/process_pause_action/`` does.
    """

    def __init__(
        self, store: StoreAccess, settings: Settings, owner: str, act_on_pause: PauseActor
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self.act_on_pause = act_on_pause
        self._inflight: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    # -- subscriptions ----------------------------------------------------------
    async def create(
        self,
        url: str,
        secret: str,
        events: list[str] | None = None,
        workflow_id: str | None = None,
        description: str | None = None,
        enabled: bool = True,
    ) -> WebhookRecord:
        """Subscribe ``url`` to ``events`` (default: all) of one workflow (or all when None).

        Raises:
            InputsInvalid: a URL that is not http(s), a malformed secret, unknown events
                (every problem listed).
            NotFound: ``workflow_id`` names no workflow.
        """
        chosen = [s.value for s in NOTIFIED_STATUSES] if events is None else events
        _check_all((check_url, url), (check_secret, secret), (check_events, chosen))
        at = now()
        hook = WebhookRecord(
            id=new_id("H"),
            url=url,
            events=check_events(chosen),
            workflow_id=workflow_id,
            description=description,
            enabled=enabled,
            created_at=at,
            updated_at=at,
        )
        return await self.store.write(lambda c: queries.create_webhook(c, hook, secret))

    async def webhooks(self) -> list[WebhookRecord]:
        """Every subscription, oldest first."""
        return await self.store.read(queries.list_webhooks)

    async def get(self, hook_id: str) -> WebhookRecord:
        """One subscription; NotFound when absent."""
        return await self.store.read(lambda c: queries.get_webhook(c, hook_id))

    async def update(self, hook_id: str, changes: dict[str, Any]) -> WebhookRecord:
        """Change url, secret, events, description or enabled; NotFound when absent."""
        if "secret" in changes:
            check_secret(changes["secret"])
        if "url" in changes:
            check_url(changes["url"])
        if "events" in changes:
            changes = {**changes, "events": check_events(changes["events"])}
        at = now()
        return await self.store.write(lambda c: queries.update_webhook(c, hook_id, changes, at))

    async def delete(self, hook_id: str) -> None:
        """Delete a subscription and its delivery log; NotFound when absent."""
        await self.store.write(lambda c: queries.delete_webhook(c, hook_id))

    async def deliveries(
        self,
        hook_id: str,
        page: int,
        page_size: int,
        status: DeliveryStatus | None = None,
        run_id: str | None = None,
    ) -> tuple[list[DeliveryRecord], int]:
        """One page of a subscription's delivery log, newest first, and the total."""
        return await self.store.read(
            lambda c: queries.list_deliveries(c, hook_id, page, page_size, status, run_id)
        )

    # -- the delivery loop --------------------------------------------------------
    async def run_forever(self) -> None:
        """Send due deliveries every ``SPURLINE_WEBHOOK_POLL_S`` until canceled."""
        while True:
            try:
                await self.deliver_due()
            except Exception:  # the next round tries again
                log_loop_error(log, "webhook delivery round failed")
            await asyncio.sleep(self.settings.webhook_poll_s)

    async def deliver_due(self) -> int:
        """Claim as many due deliveries as there are free sending slots and start
        sending them (without waiting for the answers). Returns how many it started."""
        free = self.settings.webhook_concurrency - len(self._inflight)
        if free <= 0:
            return 0
        at = now()
        # one writer transaction: the due check and the claim (reads stay off the
        # read pool, where the API's requests are)
        hold = self.settings.webhook_timeout_s + _CLAIM_MARGIN_S
        claimed = await self.store.write(
            partial(
                queries.claim_due,
                owner=self.owner,
                at=at,
                limit=free,
                hold_s=hold,
                max_attempts=self.settings.webhook_max_attempts,
            )
        )
        for delivery in claimed:
            task = asyncio.create_task(self._send(delivery), name=f"webhook-{delivery.id}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(claimed)

    async def drain(self) -> None:
        """Wait for the deliveries being sent now."""
        await asyncio.gather(*list(self._inflight), return_exceptions=True)

    def body(self, delivery: ClaimedDelivery) -> dict[str, Any]:
        """The JSON body of a delivery: ``{type, timestamp, data}`` (Standard Webhooks)."""
        payload = delivery.payload
        run = dict(payload["run"])
        data: dict[str, Any] = {"run_id": run.pop("id"), **run}
        if "pauses" in payload:
            expires = delivery.created_at + timedelta(seconds=self.settings.pause_link_ttl_s)
            data["pauses"] = [{**p, **self._links(delivery, p, expires)} for p in payload["pauses"]]
        return {
            "type": f"run.{delivery.event.lower()}",
            "timestamp": payload["occurred_at"],
            "data": data,
        }

    def _links(
        self, delivery: ClaimedDelivery, pause: dict[str, Any], expires: datetime
    ) -> dict[str, Any]:
        signer = URLSafeSerializer(delivery.secret, salt=_LINK_SALT)
        base = self.settings.public_url.rstrip("/")
        links: dict[str, Any] = {"links_expire_at": expires.isoformat()}
        for name in _LINK_ACTIONS:
            token = signer.dumps(
                {
                    "r": delivery.run_id,
                    "n": pause["node_id"],
                    "p": pause["pause_id"],
                    "a": name,
                    "e": expires.timestamp(),
                }
            )
            links[f"{name}_url"] = f"{base}/notifications/links/{delivery.subscription_id}/{token}/"
        return links

    async def _send(self, delivery: ClaimedDelivery) -> None:
        body = orjson.dumps(self.body(delivery))
        sent_at = now()
        headers = {
            "content-type": "application/json",
            "user-agent": f"Spurline/{__version__}",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": Webhook(delivery.secret).sign(delivery.id, sent_at, body.decode()),
        }
        code: int | None = None
        error: str | None = None
        limit = self.settings.webhook_timeout_s
        try:
            async with asyncio.timeout(limit):
                answer = await self._client().post(delivery.url, content=body, headers=headers)
            code = answer.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}: {answer.text[:200]}"
        except TimeoutError:
            error = f"no answer within {limit:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        await self._record(delivery, code, error)

    async def _record(self, delivery: ClaimedDelivery, code: int | None, error: str | None) -> None:
        at = now()
        s = self.settings
        outcome: dict[str, Any] = {"at": at, "status_code": code, "error": error}
        if error is None:
            status, label = DeliveryStatus.DELIVERED, "delivered"
        elif delivery.attempts >= s.webhook_max_attempts:
            status, label = DeliveryStatus.FAILED, "failed"
        else:
            status, label = DeliveryStatus.PENDING, "retried"
            delay = backoff_s(delivery.attempts, s.webhook_backoff_s, s.webhook_backoff_max_s)
            outcome["next_attempt_at"] = at + timedelta(seconds=delay)
        metrics.WEBHOOK_DELIVERIES.labels(outcome=label).inc()
        if error is not None:
            log.info("webhook delivery %s attempt %d: %s", delivery.id, delivery.attempts, error)
        await self.store.write(
            lambda c: queries.finish_attempt(c, delivery.id, self.owner, status=status, **outcome)
        )

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout_s, follow_redirects=False, trust_env=False
            )
        return self._http

    async def close(self) -> None:
        """Stop sending (unfinished attempts are taken over once their claims expire)."""
        for task in list(self._inflight):
            task.cancel()
        await self.drain()
        if self._http is not None:
            await self._http.aclose()

    # -- signed pause links ---------------------------------------------------------
    async def check_link(self, hook_id: str, token: str) -> LinkClaim:
        """Verify a pause link.

        Raises:
            LinkInvalid: unknown subscription or a signature that does not match (403).
            LinkExpired: the link is past its expiry (410).
        """
        try:
            secret = await self.store.read(lambda c: queries.webhook_secret(c, hook_id))
            data = URLSafeSerializer(secret, salt=_LINK_SALT).loads(token)
            claim = LinkClaim(
                run_id=str(data["r"]),
                node_id=str(data["n"]),
                pause_id=str(data["p"]),
                action=_LINK_ACTIONS[data["a"]],
                expires_at=datetime.fromtimestamp(float(data["e"]), tz=now().tzinfo),
            )
        except (NotFound, BadSignature, KeyError, TypeError, ValueError):
            raise LinkInvalid() from None
        if now() >= claim.expires_at:
            raise LinkExpired(claim.expires_at)
        return claim

    async def use_link(self, hook_id: str, token: str, comments: str | None) -> RunSnapshot:
        """Approve or decline the pause a link names, once.

        Raises:
            LinkInvalid: see :meth:`check_link` (403).
            LinkExpired: see :meth:`check_link` (410).
            Conflict: the pause was already resolved (the link was used, or someone
                acted on the run otherwise) (409).
        """
        claim = await self.check_link(hook_id, token)
        if not await self.store.read(lambda c: queries.pause_is_open(c, claim.pause_id)):
            raise Conflict(
                f"the pause of node {claim.node_id!r} was already resolved; a link works once"
            )
        decision = PauseDecision(
            action=claim.action,
            user_id=f"webhook link ({hook_id})",
            inputs={},
            comments=comments,
            node_id=claim.node_id,
        )
        return await self.act_on_pause(claim.run_id, decision)
