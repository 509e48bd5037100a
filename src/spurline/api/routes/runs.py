"""The Runs API of the seed document (docs/runs-api.md#endpoints-and-paging)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError

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
    MetadataQuery,
    PageDep,
    PageSizeDep,
    RuntimeDep,
    ScheduleIdQuery,
    TagQuery,
    metadata_pairs,
    start_options,
)
from spurline.api.schemas import (
    ErrorResponse,
    LlmCallSchema,
    ProblemsResponse,
    PruneRequest,
    PruneResponse,
    RerunRequest,
    RunResponseSchema,
    RunSummarySchema,
    TaskResponseSchema,
    UtcDatetime,
)
from spurline.engine.clock import now
from spurline.engine.states import RunStatus
from spurline.engine.views import run_summary
from spurline.runtime import Runtime
from spurline.services import retention
from spurline.services.reruns import RerunRequest as RerunChanges
from spurline.services.reruns import rerun
from spurline.store import runs as q

router = SlashRouter(prefix="/run", tags=["runs"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Run not found"}
}


class RunView(StrEnum):
    """``view`` of ``GET /run/``: the seed's full runs, or the lean summary."""

    full = "full"
    summary = "summary"


@router.get("/", response_model=list[RunResponseSchema] | list[RunSummarySchema])
async def list_runs(
    request: Request,
    rt: RuntimeDep,
    page: PageDep = 1,
    page_size: PageSizeDep = 10,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    workflow_id: str | None = None,
    run_type: str | None = None,
    parent_only: bool = False,
    start_date: Annotated[
        UtcDatetime | None, Query(description="Runs started at or after (RFC 3339)")
    ] = None,
    end_date: Annotated[
        UtcDatetime | None, Query(description="Runs started at or before (RFC 3339)")
    ] = None,
    tag: TagQuery = None,
    metadata: MetadataQuery = None,
    schedule_id: ScheduleIdQuery = None,
    view: RunView = RunView.full,
) -> Response:
    """All runs, newest first (start_time desc, then id desc); ``view=summary`` leaves
    out tasks, version, inputs and outputs (docs/operations.md)."""
    flt = q.RunFilter(
        tuple(status or ()),
        workflow_id,
        run_type,
        parent_only,
        start_date=start_date,
        end_date=end_date,
        tags=tuple(tag or ()),
        metadata=metadata_pairs(metadata),
        schedule_id=schedule_id,
    )

    # The page is read, shaped and encoded in a worker thread: 200 requests in flight
    # must not queue behind each other on the event loop
    # (docs/reliability.md#orphans-and-hogging).
    def summary_page(conn: Any) -> tuple[bytes, int]:
        found, total = q.list_run_summaries(conn, page, page_size, flt)
        at = now()
        body = [
            run_summary(r, found.counts.get(r.id, (0, 0)), at, found.reruns.get(r.id))
            for r in found.runs
        ]
        return render_json(body), total

    def full_page(conn: Any) -> tuple[bytes, int]:
        snaps, total = q.list_runs(conn, page, page_size, flt)
        return render_json([rt.view(s) for s in snaps]), total

    body, total = await rt.read(summary_page if view is RunView.summary else full_page)
    return json_bytes_response(body, page_headers(request, page, page_size, total))


async def _run_response(rt: Runtime, run_id: str, part: str | None = None) -> Response:
    """``GET /run/{run_id}/`` (or one ``part`` of it), read, shaped and encoded in a
    worker thread; NotFound when there is no such run."""

    def render(conn: Any) -> bytes:
        view = rt.view(q.get_snapshot(conn, run_id))
        return render_json(view[part] if part else view)

    return json_bytes_response(await rt.read(render))


@router.post(
    "/{run_id}/rerun/",
    response_model=RunResponseSchema,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorResponse, "description": "The run has not finished"},
        422: {"model": ProblemsResponse, "description": "Bad inputs or from_node"},
    },
)
async def rerun_run(
    run_id: str,
    rt: RuntimeDep,
    actor: ActorDep,
    body: RerunRequest | None = None,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Start a new run like a finished one (same inputs unless changed; same version unless
    ``latest_version``; from ``from_node`` on, reusing the other nodes' outputs). The new
    run names the original in ``rerun_of``; the original lists it in ``reruns``."""
    body = body or RerunRequest()
    options = start_options(body, idempotency_key, actor=actor)
    request = RerunChanges(
        initial_inputs=body.initial_inputs,
        latest_version=body.latest_version,
        from_node=body.from_node,
        options=options,
    )
    run, _ = await rerun(rt.runs, run_id, request)
    view = rt.view(await rt.snapshot(run.id))
    return OrjsonResponse(view, headers={"Location": f"/run/{run.id}/"})


@router.post(
    "/prune/",
    response_model=PruneResponse,
    responses={422: {"model": ProblemsResponse, "description": "Bad duration or status"}},
)
async def prune_runs(body: PruneRequest, rt: RuntimeDep) -> Response:
    """Delete runs that ended more than ``older_than`` ago with their child runs, tasks,
    logs, pause records and output files, then the datasets no run refers to; never an
    active or paused run. Works in batches of ``SPURLINE_PRUNE_BATCH_SIZE`` runs, one
    short transaction each, so the server keeps answering (docs/operations.md)."""
    problems = []
    try:
        age = retention.parse_age(body.older_than)
    except ValueError as exc:
        problems.append({"loc": ("body", "older_than"), "msg": str(exc), "type": "value_error"})
    try:
        statuses = retention.check_statuses(body.statuses)
    except ValueError as exc:
        problems.append({"loc": ("body", "statuses"), "msg": str(exc), "type": "value_error"})
    if problems:
        raise RequestValidationError(problems)
    report = await retention.prune(
        rt, age, statuses, dry_run=body.dry_run, batch_size=rt.settings.prune_batch_size
    )
    return OrjsonResponse(PruneResponse.model_validate(report, from_attributes=True).model_dump())


@router.get("/{run_id}/", response_model=RunResponseSchema, responses=NOT_FOUND)
async def get_run(run_id: str, rt: RuntimeDep) -> Response:
    """One run with its tasks."""
    return await _run_response(rt, run_id)


@router.get("/{run_id}/status/", response_model=RunResponseSchema, responses=NOT_FOUND)
async def get_run_status(run_id: str, rt: RuntimeDep) -> Response:
    """Same as ``GET /run/{run_id}/`` (PySpur has both)."""
    return await _run_response(rt, run_id)


@router.get("/{run_id}/tasks/", response_model=list[TaskResponseSchema], responses=NOT_FOUND)
async def get_run_tasks(run_id: str, rt: RuntimeDep) -> Response:
    """Every task of a run, in topological order."""
    return await _run_response(rt, run_id, "tasks")


@router.get("/{run_id}/children/", response_model=list[RunResponseSchema], responses=NOT_FOUND)
async def get_run_children(
    request: Request,
    run_id: str,
    rt: RuntimeDep,
    page: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    page_size: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> Response:
    """Direct child runs, oldest first (batch: row order)."""
    if page is not None or page_size is not None:
        page, page_size = page or 1, page_size or 100

    def render(conn: Any) -> tuple[bytes, int]:
        # A batch may have thousands of children: build and encode them off the event loop.
        snaps, total = q.list_children(conn, run_id, page, page_size)
        return render_json([rt.view(s) for s in snaps]), total

    body, total = await rt.read(render)
    headers = page_headers(request, page, page_size, total) if page and page_size else {}
    headers.setdefault("X-Total-Count", str(total))
    return json_bytes_response(body, headers)


@router.delete(
    "/{run_id}/",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, 409: {"model": ErrorResponse, "description": "Run is active"}},
)
async def delete_run(run_id: str, rt: RuntimeDep) -> Response:
    """Delete a run with its tasks, pause records, output file and child runs."""
    files = await rt.write(lambda c: q.delete_run(c, run_id))
    await rt.remove_output_files(files)
    return Response(status_code=204)


@router.get("/{run_id}/llm_calls/", response_model=list[LlmCallSchema], responses=NOT_FOUND)
async def get_run_llm_calls(run_id: str, rt: RuntimeDep) -> Response:
    """Every LLM call of the run's nodes, oldest first: rendered messages, answer,
    model, token usage, estimated cost and latency (docs/pyspur.md)."""
    return OrjsonResponse(await rt.llm_calls.of_run(run_id))
