"""Schedules, as PySpur's ``/wf/schedules/`` routes (docs/operations.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import PageDep, PageSizeDep, RuntimeDep
from spurline.api.schemas import (
    ErrorResponse,
    ProblemsResponse,
    ScheduleCreateRequest,
    ScheduleListResponseSchema,
    ScheduleResponseSchema,
    ScheduleUpdateRequest,
)
from spurline.services.schedules import ScheduleFields, schedule_view
from spurline.store import schedules as q

router = SlashRouter(prefix="/wf/schedules", tags=["schedules"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Schedule not found"}
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ProblemsResponse, "description": "Bad cron expression, time zone or inputs"}
}


@router.post(
    "/",
    response_model=ScheduleResponseSchema,
    responses={404: {"model": ErrorResponse, "description": "Workflow not found"}, **INVALID},
)
async def create_schedule(body: ScheduleCreateRequest, rt: RuntimeDep) -> Response:
    """Create a schedule of a workflow: a cron expression in a time zone, or an interval."""
    fields = ScheduleFields(
        workflow_id=body.workflow_id,
        name=body.name,
        cron_expression=body.cron_expression,
        interval_seconds=body.interval_seconds,
        timezone=body.timezone,
        initial_inputs=body.initial_inputs,
        enabled=body.enabled,
        misfire_policy=body.misfire_policy,
        tags=tuple(body.tags or ()),
        metadata=body.metadata,
    )
    return OrjsonResponse(schedule_view(await rt.schedules.create(fields)))


@router.get("/", response_model=ScheduleListResponseSchema)
async def list_schedules(
    rt: RuntimeDep,
    workflow_id: Annotated[str | None, Query(max_length=40)] = None,
    page: PageDep = 1,
    page_size: PageSizeDep = 10,
) -> Response:
    """Schedules, newest first, optionally of one workflow (PySpur's list shape)."""
    found, total = await rt.read(lambda c: q.list_schedules(c, page, page_size, workflow_id))
    return OrjsonResponse(
        {
            "schedules": [schedule_view(s) for s in found],
            "total": total,
            "page": page,
            "page_size": page_size,
        }
    )


@router.get("/{schedule_id}/", response_model=ScheduleResponseSchema, responses=NOT_FOUND)
async def get_schedule(schedule_id: str, rt: RuntimeDep) -> Response:
    """One schedule with its next and last fire."""
    return OrjsonResponse(schedule_view(await rt.schedules.get(schedule_id)))


@router.put(
    "/{schedule_id}/", response_model=ScheduleResponseSchema, responses={**NOT_FOUND, **INVALID}
)
async def update_schedule(
    schedule_id: str, body: ScheduleUpdateRequest, rt: RuntimeDep
) -> Response:
    """Change a schedule; fields left out stay as they are."""
    changes = body.model_dump(exclude_none=True)
    if "tags" in changes:
        changes["tags"] = tuple(changes["tags"])
    return OrjsonResponse(schedule_view(await rt.schedules.update(schedule_id, changes)))


@router.delete("/{schedule_id}/", responses=NOT_FOUND)
async def delete_schedule(schedule_id: str, rt: RuntimeDep) -> Response:
    """Delete a schedule (PySpur answers with a message); its runs stay."""
    await rt.schedules.delete(schedule_id)
    return OrjsonResponse({"message": f"Schedule {schedule_id} deleted successfully"})


@router.post("/{schedule_id}/toggle/", response_model=ScheduleResponseSchema, responses=NOT_FOUND)
async def toggle_schedule(schedule_id: str, rt: RuntimeDep) -> Response:
    """Enable a disabled schedule, or disable an enabled one."""
    return OrjsonResponse(schedule_view(await rt.schedules.toggle(schedule_id)))
