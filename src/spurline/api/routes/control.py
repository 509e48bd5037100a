"""Human in the loop and run control: pause actions, pause history, paused runs,
cancel and retry (docs/runs-api.md#pause-cancel-retry). The logic lives in :class:`Runtime` and
:mod:`spurline.store.control`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from spurline.api._http import OrjsonResponse, SlashRouter, page_headers
from spurline.api.deps import PageDep, PageSizeDep, RuntimeDep
from spurline.api.schemas import (
    ErrorResponse,
    PauseActionRequest,
    PausedWorkflowResponseSchema,
    PauseHistoryResponseSchema,
    RunResponseSchema,
    WorkflowResponseSchema,
)
from spurline.engine.views import pause_view
from spurline.store import control

router = SlashRouter(tags=["control"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Run not found"}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"model": ErrorResponse, "description": "The run is not in a state that allows this"},
}


@router.post(
    "/wf/process_pause_action/{run_id}/", response_model=RunResponseSchema, responses=CONFLICT
)
async def process_pause_action(run_id: str, body: PauseActionRequest, rt: RuntimeDep) -> Response:
    """Approve, override or decline a paused run; approved runs resume at once."""
    decision = control.PauseDecision(
        body.action, body.user_id, body.inputs, body.comments, body.node_id
    )
    return OrjsonResponse(rt.view(await rt.process_pause_action(run_id, decision)))


@router.get(
    "/wf/pause_history/{run_id}/",
    response_model=list[PauseHistoryResponseSchema],
    responses=NOT_FOUND,
)
async def pause_history(run_id: str, rt: RuntimeDep) -> Response:
    """Every pause of a run, newest first."""
    pauses = await rt.read(lambda c: control.pause_history(c, run_id))
    return OrjsonResponse([pause_view(p) for p in pauses])


@router.get("/wf/paused_workflows/", response_model=list[PausedWorkflowResponseSchema])
async def paused_workflows(
    request: Request, rt: RuntimeDep, page: PageDep = 1, page_size: PageSizeDep = 10
) -> Response:
    """PAUSED runs, most recently paused first, with their open pause and workflow."""
    items, total = await rt.read(lambda c: control.paused_runs(c, page, page_size))
    body = [
        {
            "run": rt.view(item.snapshot),
            "current_pause": pause_view(item.current_pause) if item.current_pause else None,
            "workflow": WorkflowResponseSchema.model_validate(
                item.workflow, from_attributes=True
            ).model_dump(),
        }
        for item in items
    ]
    return OrjsonResponse(body, headers=page_headers(request, page, page_size, total))


@router.post("/wf/cancel_workflow/{run_id}/", response_model=RunResponseSchema, responses=CONFLICT)
async def cancel_workflow(run_id: str, rt: RuntimeDep) -> Response:
    """Cancel a PENDING, RUNNING or PAUSED run, its unfinished tasks and its child runs."""
    return OrjsonResponse(rt.view(await rt.cancel_run(run_id)))


@router.post(
    "/run/{run_id}/retry/", status_code=202, response_model=RunResponseSchema, responses=CONFLICT
)
async def retry_run(run_id: str, rt: RuntimeDep) -> Response:
    """Re-execute the FAILED and CANCELED tasks of a FAILED run, reusing COMPLETED outputs."""
    view = rt.view(await rt.retry_run(run_id))
    return OrjsonResponse(view, status_code=202, headers={"Location": f"/run/{run_id}/"})
