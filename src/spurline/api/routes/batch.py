"""Batch runs over a dataset (docs/child-runs-and-batches.md)."""

from __future__ import annotations

from fastapi import Response

from spurline.api._http import OrjsonResponse, SlashRouter
from spurline.api.deps import ActorDep, IdempotencyHeader, RuntimeDep, start_options
from spurline.api.schemas import BatchRunRequest, ErrorResponse, RunResponseSchema
from spurline.engine.clock import now
from spurline.engine.views import run_view

router = SlashRouter(prefix="/wf", tags=["workflows"])


@router.post(
    "/{workflow_id}/start_batch_run/",
    response_model=RunResponseSchema,
    responses={
        404: {"model": ErrorResponse, "description": "Workflow or dataset not found"},
        422: {"model": ErrorResponse, "description": "A column is missing, or bad size"},
    },
)
async def start_batch_run(
    workflow_id: str,
    body: BatchRunRequest,
    rt: RuntimeDep,
    actor: ActorDep,
    idempotency_key: IdempotencyHeader = None,
) -> Response:
    """Start one child run per dataset row, at most ``mini_batch_size`` at a time; returns
    the batch parent run (200, as PySpur; its rows go on in the background). With an
    idempotency key used within 24 h, the answer is that key's first batch run."""
    options = start_options(body, idempotency_key, run_type="batch", actor=actor)
    run = await rt.batches.start(workflow_id, body.dataset_id, body.mini_batch_size, options)
    version = await rt.engine.persistence.get_version(run.workflow_version_id or "")
    view = run_view(run, [], version, now())
    return OrjsonResponse(view, headers={"Location": f"/run/{run.id}/"})
