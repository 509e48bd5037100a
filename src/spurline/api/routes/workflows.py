"""Workflows, their versions, and starting runs (docs/runs-api.md#running)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response

from spurline.api._dialect import definition_for_save
from spurline.api._http import (
    OrjsonResponse,
    SlashRouter,
    json_bytes_response,
    page_headers,
    render_json,
)
from spurline.api.deps import (
    ActorDep,
    IdempotencyHeader,
    PageDep,
    PageSizeDep,
    RuntimeDep,
    start_options,
)
from spurline.api.schemas import (
    ErrorResponse,
    OutputVariable,
    PartialRunRequest,
    ProblemsResponse,
    RunFailedResponse,
    RunResponseSchema,
    StartRunRequest,
    WorkflowCreateRequest,
    WorkflowResponseSchema,
    WorkflowVersionListItem,
)
from spurline.engine.clock import now
from spurline.engine.outputs import leaf_variables
from spurline.engine.records import RunSnapshot
from spurline.engine.states import RunStatus
from spurline.engine.views import run_view, version_item
from spurline.store import runs as run_q
from spurline.store import workflows as wf_q
from spurline.store.workflows import WorkflowRecord

router = SlashRouter(prefix="/wf", tags=["workflows"])
#: Starting runs, the most requested of these routes: included just before ``router``
#: (no path of either matches both), so a start is not first tried on every other
#: workflow route, twice (FastAPI matches the router, then the route again).
run_router = SlashRouter(prefix="/wf", tags=["workflows"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Workflow not found"}
}


def _workflow(wf: WorkflowRecord) -> dict[str, Any]:
    return {
        "id": wf.id,
        "name": wf.name,
        "description": wf.description,
        "definition": wf.definition,
        "created_at": wf.created_at,
        "updated_at": wf.updated_at,
    }


@router.post("/", response_model=WorkflowResponseSchema)
async def create_workflow(body: WorkflowCreateRequest, rt: RuntimeDep) -> Response:
    """Create a workflow; its definition becomes version 1."""
    definition = await asyncio.to_thread(definition_for_save, body.definition)
    await asyncio.to_thread(rt.secrets.check_definition, definition)
    wf = await rt.write(lambda c: wf_q.create_workflow(c, body.name, body.description, definition))
    return OrjsonResponse(_workflow(wf))


@router.get("/", response_model=list[WorkflowResponseSchema])
async def list_workflows(
    request: Request, rt: RuntimeDep, page: PageDep = 1, page_size: PageSizeDep = 10
) -> Response:
    """Workflows, newest first."""

    def render(conn: Any) -> tuple[bytes, int]:
        # definitions can be megabytes: encoded off the event loop, like the run pages
        wfs, total = wf_q.list_workflows(conn, page, page_size)
        return render_json([_workflow(w) for w in wfs]), total

    body, total = await rt.read(render)
    return json_bytes_response(body, page_headers(request, page, page_size, total))


@router.get("/{workflow_id}/", response_model=WorkflowResponseSchema, responses=NOT_FOUND)
async def get_workflow(workflow_id: str, rt: RuntimeDep) -> Response:
    """One workflow with its current definition."""
    return OrjsonResponse(_workflow(await rt.read(lambda c: wf_q.get_workflow(c, workflow_id))))


@router.put("/{workflow_id}/", response_model=WorkflowResponseSchema, responses=NOT_FOUND)
async def replace_workflow(
    workflow_id: str, body: WorkflowCreateRequest, rt: RuntimeDep
) -> Response:
    """Replace a workflow; a changed definition makes a new version."""
    definition = await asyncio.to_thread(definition_for_save, body.definition)
    await asyncio.to_thread(rt.secrets.check_definition, definition)
    wf = await rt.write(
        lambda c: wf_q.update_workflow(c, workflow_id, body.name, body.description, definition)
    )
    return OrjsonResponse(_workflow(wf))


@router.delete(
    "/{workflow_id}/",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, 409: {"model": ErrorResponse, "description": "Has active runs"}},
)
async def delete_workflow(workflow_id: str, rt: RuntimeDep) -> Response:
    """Delete a workflow, its versions, its runs and triggers; its schedules are disabled
    with the reason (docs/operations.md)."""
    await rt.write(lambda c: wf_q.delete_workflow(c, workflow_id))
    await rt.schedules.workflow_deleted(workflow_id)
    return Response(status_code=204)


@router.get(
    "/{workflow_id}/versions/", response_model=list[WorkflowVersionListItem], responses=NOT_FOUND
)
async def list_versions(workflow_id: str, rt: RuntimeDep) -> Response:
    """Every version of a workflow, newest first."""
    versions = await rt.read(lambda c: wf_q.list_versions(c, workflow_id))
    return OrjsonResponse([version_item(v) for v in versions])


@run_router.post(
    "/{workflow_id}/start_run/",
    response_model=RunResponseSchema,
    responses=NOT_FOUND,
)
async def start_run(
    workflow_id: str,
    body: StartRunRequest,
    rt: RuntimeDep,
    actor: ActorDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Start a run in the background (200 with the run, as PySpur); poll ``Location``.

    With an idempotency key used within 24 h, the answer is that key's first run."""
    options = start_options(body, idempotency_key, actor=actor)
    run, tasks = await rt.start_run(workflow_id, body.initial_inputs, body.parent_run_id, options)
    version = await rt.engine.persistence.get_version(run.workflow_version_id or "")
    view = run_view(run, tasks, version, now())
    return OrjsonResponse(view, headers={"Location": f"/run/{run.id}/"})


@run_router.post(
    "/{workflow_id}/run/",
    response_model=dict[str, dict[str, Any]],
    responses={
        **NOT_FOUND,
        202: {"model": RunResponseSchema, "description": "The run paused (or is still running)"},
        409: {"model": RunFailedResponse, "description": "The run was canceled"},
        422: {
            "model": RunFailedResponse | ProblemsResponse,
            "description": "The run failed, or the request was rejected",
        },
    },
)
async def run_blocking(
    workflow_id: str,
    body: StartRunRequest,
    rt: RuntimeDep,
    actor: ActorDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Run and wait: 200 ``{node_id: output}`` when COMPLETED, 202 run when PAUSED.

    With an idempotency key used within 24 h, the answer is that key's first run's."""
    options = start_options(body, idempotency_key, actor=actor)
    run, _ = await rt.start_run(
        workflow_id, body.initial_inputs, body.parent_run_id, options, running=True
    )
    await rt.wait(run.id)
    outputs = await rt.runs.completed_outputs(run.id)
    if outputs is not None:
        return OrjsonResponse(outputs)
    snap = await rt.snapshot(run.id)
    return _blocking_result(rt.view(snap), snap)


def _blocking_result(view: dict[str, Any], snap: RunSnapshot) -> Response:
    status = snap.run.status
    if status is RunStatus.COMPLETED:
        return OrjsonResponse(view["outputs"] or {})
    if status in (RunStatus.FAILED, RunStatus.CANCELED):
        code = 422 if status is RunStatus.FAILED else 409
        message = snap.run.message or f"Run {status.value}"
        return OrjsonResponse({"detail": {"message": message, "run": view}}, status_code=code)
    return OrjsonResponse(view, status_code=202, headers={"Location": f"/run/{snap.run.id}/"})


@router.get("/{workflow_id}/runs/", response_model=list[RunResponseSchema], responses=NOT_FOUND)
async def list_workflow_runs(
    request: Request,
    workflow_id: str,
    rt: RuntimeDep,
    page: PageDep = 1,
    page_size: PageSizeDep = 10,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    start_date: Annotated[
        datetime | None, Query(description="runs started at or after (naive: UTC)")
    ] = None,
    end_date: Annotated[
        datetime | None, Query(description="runs started at or before (naive: UTC)")
    ] = None,
) -> Response:
    """That workflow's runs, newest first; child runs (loop iterations, sub-workflows,
    batch rows) are reached through their parent, not listed here."""
    flt = run_q.RunFilter(
        tuple(status or ()),
        workflow_id=workflow_id,
        parent_only=True,
        start_date=_utc(start_date),
        end_date=_utc(end_date),
    )

    def render(conn: Any) -> tuple[bytes, int]:
        wf_q.get_workflow(conn, workflow_id)  # NotFound: no such workflow
        snaps, total = run_q.list_runs(conn, page, page_size, flt)
        return render_json([rt.view(s) for s in snaps]), total

    body, total = await rt.read(render)
    return json_bytes_response(body, page_headers(request, page, page_size, total))


def _utc(value: datetime | None) -> datetime | None:
    # PySpur's UI sends toISOString() (UTC, "Z"); a naive value is taken as UTC too
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@router.post(
    "/{workflow_id}/duplicate/", response_model=WorkflowResponseSchema, responses=NOT_FOUND
)
async def duplicate_workflow(workflow_id: str, rt: RuntimeDep) -> Response:
    """A copy of the workflow named "<name> (Copy)", with its current definition."""

    def copy(conn: Any) -> WorkflowRecord:
        wf = wf_q.get_workflow(conn, workflow_id)
        return wf_q.create_workflow(conn, f"{wf.name} (Copy)", wf.description, wf.definition)

    return OrjsonResponse(_workflow(await rt.write(copy)))


@router.get(
    "/{workflow_id}/output_variables/",
    response_model=list[OutputVariable],
    responses=NOT_FOUND,
)
async def output_variables(workflow_id: str, rt: RuntimeDep) -> Response:
    """The fields of the workflow's leaf nodes (nodes no link leaves), in node order."""
    wf = await rt.read(lambda c: wf_q.get_workflow(c, workflow_id))
    return OrjsonResponse(leaf_variables(wf.definition))


@router.post(
    "/{workflow_id}/run_partial/",
    response_model=dict[str, dict[str, Any]],
    responses={
        **NOT_FOUND,
        422: {
            "model": RunFailedResponse | ProblemsResponse,
            "description": "The run failed, or the request was rejected",
        },
    },
)
async def run_partial(workflow_id: str, body: PartialRunRequest, rt: RuntimeDep) -> Response:
    """Run one node with given predecessor outputs and wait: ``{node_id: output}``."""
    run, _ = await rt.partial_runs.start(
        workflow_id,
        body.node_id,
        body.initial_inputs,
        body.partial_outputs,
        body.rerun_predecessors,
    )
    await rt.wait(run.id)
    snap = await rt.snapshot(run.id)
    response = _blocking_result(rt.view(snap), snap)
    response.headers["Location"] = f"/run/{run.id}/"
    return response
