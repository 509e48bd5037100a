"""Webhook triggers: make one per workflow, then POST the InputNode's fields to its URL
with its secret to start a run (docs/operations.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Header, Request, Response

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import IdempotencyHeader, RuntimeDep
from spurline.api.schemas import (
    ErrorResponse,
    ProblemsResponse,
    TriggerCreatedResponse,
    TriggerCreateRequest,
    TriggerResponseSchema,
    TriggerRunResponse,
)
from spurline.services.triggers import TriggerDenied
from spurline.store.schedules import TriggerRecord

router = SlashRouter(tags=["triggers"])
WF_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Workflow not found"}
}


def trigger_view(t: TriggerRecord, request: Request) -> dict[str, Any]:
    """TriggerResponseSchema as a dict; ``url`` is absolute, on the address asked."""
    return {
        "id": t.id,
        "workflow_id": t.workflow_id,
        "name": t.name,
        "url": str(request.url_for("fire_trigger", trigger_id=t.id)),
        "tags": t.tags or [],
        "metadata": t.run_metadata or {},
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
    }


@router.post(
    "/wf/{workflow_id}/triggers/", response_model=TriggerCreatedResponse, responses=WF_NOT_FOUND
)
async def create_trigger(
    workflow_id: str, body: TriggerCreateRequest, request: Request, rt: RuntimeDep
) -> Response:
    """Make a webhook trigger; the answer holds its secret, shown this once."""
    trigger, secret = await rt.triggers.create(
        workflow_id, body.name, tuple(body.tags or ()), body.metadata
    )
    return OrjsonResponse({**trigger_view(trigger, request), "secret": secret})


@router.get(
    "/wf/{workflow_id}/triggers/",
    response_model=list[TriggerResponseSchema],
    responses=WF_NOT_FOUND,
)
async def list_triggers(workflow_id: str, request: Request, rt: RuntimeDep) -> Response:
    """A workflow's triggers, newest first (never their secrets)."""
    return OrjsonResponse(
        [trigger_view(t, request) for t in await rt.triggers.of_workflow(workflow_id)]
    )


@router.delete(
    "/trigger/{trigger_id}/",
    status_code=204,
    response_class=Response,
    responses={404: {"model": ErrorResponse, "description": "Trigger not found"}},
)
async def delete_trigger(trigger_id: str, rt: RuntimeDep) -> Response:
    """Delete a trigger: its URL starts nothing any more."""
    await rt.triggers.delete(trigger_id)
    return Response(status_code=204)


@router.post(
    "/trigger/{trigger_id}/",
    status_code=202,
    response_model=TriggerRunResponse,
    responses={
        401: {"model": ErrorResponse, "description": "No secret given"},
        403: {"model": ErrorResponse, "description": "Wrong secret"},
        404: {"model": ErrorResponse, "description": "Trigger not found"},
        422: {"model": ProblemsResponse, "description": "The body is not the InputNode's fields"},
    },
)
async def fire_trigger(
    trigger_id: str,
    rt: RuntimeDep,
    body: Annotated[
        Any, Body(description="The InputNode's fields: {field: value}", examples=[{"text": "hi"}])
    ] = None,
    secret: Annotated[str | None, Header(alias="X-Spurline-Secret", max_length=200)] = None,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Start a run from the POSTed JSON (202 with the run id; poll ``Location``)."""
    try:
        run, _ = await rt.triggers.fire(trigger_id, secret, body, idempotency_key)
    except TriggerDenied as exc:
        return OrjsonResponse({"detail": str(exc)}, status_code=exc.status)
    url = f"/run/{run.id}/"
    return OrjsonResponse(
        {"run_id": run.id, "status": run.status.value, "url": url},
        status_code=202,
        headers={"Location": url},
    )
