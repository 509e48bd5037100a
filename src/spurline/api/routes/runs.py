"""The Runs API of the seed document (docs/runs-api.md#endpoints-and-paging)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from spurline.api._http import OrjsonResponse, SlashRouter, page_headers
from spurline.api.deps import PageDep, PageSizeDep, RuntimeDep
from spurline.api.schemas import (
    ErrorResponse,
    LlmCallSchema,
    RunResponseSchema,
    TaskResponseSchema,
)
from spurline.engine.states import RunStatus
from spurline.store import runs as q

router = SlashRouter(prefix="/run", tags=["runs"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Run not found"}
}


@router.get("/", response_model=list[RunResponseSchema])
async def list_runs(
    request: Request,
    rt: RuntimeDep,
    page: PageDep = 1,
    page_size: PageSizeDep = 10,
    status: Annotated[list[RunStatus] | None, Query()] = None,
    workflow_id: str | None = None,
    run_type: str | None = None,
    parent_only: bool = False,
) -> Response:
    """All runs, newest first (start_time desc, then id desc)."""
    flt = q.RunFilter(tuple(status or ()), workflow_id, run_type, parent_only)
    snaps, total = await rt.read(lambda c: q.list_runs(c, page, page_size, flt))
    return OrjsonResponse(
        [rt.view(s) for s in snaps], headers=page_headers(request, page, page_size, total)
    )


@router.get("/{run_id}/", response_model=RunResponseSchema, responses=NOT_FOUND)
async def get_run(run_id: str, rt: RuntimeDep) -> Response:
    """One run with its tasks."""
    return OrjsonResponse(rt.view(await rt.snapshot(run_id)))


@router.get("/{run_id}/status/", response_model=RunResponseSchema, responses=NOT_FOUND)
async def get_run_status(run_id: str, rt: RuntimeDep) -> Response:
    """Same as ``GET /run/{run_id}/`` (PySpur has both)."""
    return OrjsonResponse(rt.view(await rt.snapshot(run_id)))


@router.get("/{run_id}/tasks/", response_model=list[TaskResponseSchema], responses=NOT_FOUND)
async def get_run_tasks(run_id: str, rt: RuntimeDep) -> Response:
    """Every task of a run, in topological order."""
    return OrjsonResponse(rt.view(await rt.snapshot(run_id))["tasks"])


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
        return OrjsonResponse([]).render([rt.view(s) for s in snaps]), total

    body, total = await rt.read(render)
    headers = page_headers(request, page, page_size, total) if page and page_size else {}
    headers.setdefault("X-Total-Count", str(total))
    return Response(body, media_type="application/json", headers=headers)


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
