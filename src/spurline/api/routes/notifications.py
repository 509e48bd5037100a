"""Notification webhooks (admin) and signed pause links (public), see docs/operations.md.

Two routers so that access rules attach to each as a whole: ``admin_router``
manages subscriptions and reads delivery logs; ``public_router`` serves the
approve/decline links, which carry their own signature and need no token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from spurline.api._http import OrjsonResponse, SlashRouter, page_headers
from spurline.api.deps import PageDep, PageSizeDep, RuntimeDep
from spurline.api.schemas import ErrorResponse, RunResponseSchema
from spurline.store.notifications import DeliveryStatus

admin_router = SlashRouter(tags=["notifications"])
public_router = SlashRouter(tags=["notifications"])

Event = Literal["COMPLETED", "FAILED", "PAUSED", "CANCELED"]
ALL_EVENTS: list[Event] = ["COMPLETED", "FAILED", "PAUSED", "CANCELED"]
_SECRET_DOC = (
    "Signing secret: 'whsec_' + base64 of 24 to 64 random bytes (Standard Webhooks). "
    "Write-only: never returned."
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Webhook not found"}
}


class WebhookCreate(BaseModel):
    """A new notification webhook."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Where events are POSTed (http or https).")
    secret: str = Field(description=_SECRET_DOC, max_length=200)
    events: list[Event] = Field(default_factory=lambda: list(ALL_EVENTS), min_length=1)
    workflow_id: str | None = Field(
        default=None, max_length=40, description="Only this workflow's runs; null: every run."
    )
    description: str | None = Field(default=None, max_length=2000)
    enabled: bool = True


class WebhookUpdate(BaseModel):
    """Changes to a webhook; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = None
    secret: str | None = Field(default=None, description=_SECRET_DOC, max_length=200)
    events: list[Event] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=2000)
    enabled: bool | None = None


class WebhookRead(BaseModel):
    """A notification webhook (its secret is never shown)."""

    id: str
    url: str
    events: list[Event]
    workflow_id: str | None
    description: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


class DeliveryRead(BaseModel):
    """One delivery of one run event to a webhook, with its log."""

    id: str = Field(description="Also the webhook-id header of every attempt.")
    subscription_id: str
    run_id: str
    event: Event
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]


class LinkActionRequest(BaseModel):
    """Optional comments recorded with the pause action."""

    model_config = ConfigDict(extra="forbid")

    comments: str | None = Field(default=None, max_length=2000)


def _hook(record: Any) -> dict[str, Any]:
    return WebhookRead.model_validate(record, from_attributes=True).model_dump()


@admin_router.post(
    "/notifications/webhooks/",
    status_code=201,
    response_model=WebhookRead,
    responses={404: {"model": ErrorResponse, "description": "Workflow not found"}},
)
async def create_webhook(body: WebhookCreate, rt: RuntimeDep) -> Response:
    """Subscribe a URL to run events of one workflow or of all."""
    hook = await rt.notifications.create(
        str(body.url),
        body.secret,
        list(body.events),
        body.workflow_id,
        body.description,
        body.enabled,
    )
    return OrjsonResponse(_hook(hook), status_code=201)


@admin_router.get("/notifications/webhooks/", response_model=list[WebhookRead])
async def list_webhooks(rt: RuntimeDep) -> Response:
    """Every notification webhook, oldest first."""
    return OrjsonResponse([_hook(h) for h in await rt.notifications.webhooks()])


@admin_router.get(
    "/notifications/webhooks/{webhook_id}/", response_model=WebhookRead, responses=NOT_FOUND
)
async def get_webhook(webhook_id: str, rt: RuntimeDep) -> Response:
    """One notification webhook."""
    return OrjsonResponse(_hook(await rt.notifications.get(webhook_id)))


@admin_router.patch(
    "/notifications/webhooks/{webhook_id}/", response_model=WebhookRead, responses=NOT_FOUND
)
async def update_webhook(webhook_id: str, body: WebhookUpdate, rt: RuntimeDep) -> Response:
    """Change a webhook's URL, secret, events, description or enabled flag."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "url" in changes:
        changes["url"] = str(body.url)
    return OrjsonResponse(_hook(await rt.notifications.update(webhook_id, changes)))


@admin_router.delete("/notifications/webhooks/{webhook_id}/", status_code=204, responses=NOT_FOUND)
async def delete_webhook(webhook_id: str, rt: RuntimeDep) -> Response:
    """Delete a webhook and its delivery log (its pause links stop working)."""
    await rt.notifications.delete(webhook_id)
    return Response(status_code=204)


@admin_router.get(
    "/notifications/webhooks/{webhook_id}/deliveries/",
    response_model=list[DeliveryRead],
    responses=NOT_FOUND,
)
async def list_deliveries(
    webhook_id: str,
    request: Request,
    rt: RuntimeDep,
    page: PageDep = 1,
    page_size: PageSizeDep = 20,
    status: DeliveryStatus | None = None,
    run_id: str | None = None,
) -> Response:
    """A webhook's delivery log, newest first: status, attempts, last error."""
    items, total = await rt.notifications.deliveries(webhook_id, page, page_size, status, run_id)
    body = [DeliveryRead.model_validate(d, from_attributes=True).model_dump() for d in items]
    return OrjsonResponse(body, headers=page_headers(request, page, page_size, total))


LINK_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"model": ErrorResponse, "description": "The link is not valid"},
    409: {"model": ErrorResponse, "description": "The pause was already resolved"},
    410: {"model": ErrorResponse, "description": "The link expired"},
}


@public_router.post(
    "/notifications/links/{webhook_id}/{token}/",
    response_model=RunResponseSchema,
    responses=LINK_ERRORS,
)
async def use_pause_link(
    webhook_id: str, token: str, rt: RuntimeDep, body: LinkActionRequest | None = None
) -> Response:
    """Approve or decline a paused node through a signed link from a PAUSED notification."""
    comments = body.comments if body is not None else None
    snap = await rt.notifications.use_link(webhook_id, token, comments)
    return OrjsonResponse(rt.view(snap))
