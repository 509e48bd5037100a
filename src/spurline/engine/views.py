"""How a run and its tasks look to clients (docs/runs-api.md#run and "Task"):
the response shapes, defined once, and the functions that build them from stored
records at read time.

Each shape is a :class:`~typing_extensions.TypedDict`: the builders below are
checked against it by mypy (a missing or extra key is a type error), FastAPI turns
the same class into the OpenAPI schema (``spurline.api.schemas`` re-exports them),
and a response is a plain dict that orjson encodes with no model in between.
Stored fields a shape leaves out are listed with the reason in
:data:`HIDDEN_RUN_FIELDS` / :data:`HIDDEN_TASK_FIELDS`
(``tests/test_shapes.py`` fails on a stored field that is neither).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

# pydantic reads these shapes on Python 3.11 only from typing_extensions' TypedDict
from typing_extensions import TypedDict

from spurline.engine.graph import Graph
from spurline.engine.pauses import PauseAction
from spurline.engine.records import PauseRecord, RunRecord, TaskRecord, VersionRecord
from spurline.engine.states import RunStatus, TaskStatus


class TaskResponseSchema(TypedDict):
    """One node's execution in a run (docs/runs-api.md#task).

    ``error`` is set only when the task FAILED; ``attempts`` counts the tries of the
    node in this run (node retries, run retries and takeovers included; 0 before the
    first; docs/observability.md lists them). ``ready_time`` is when the last try
    could start and ``start_time`` when its code began (the gap: time queued for a
    free worker process). ``traceback`` is the failure's traceback, with the line
    numbers of a PythonFuncNode's own code; set only when the task FAILED.
    """

    id: str
    run_id: str
    node_id: str
    node_type: str
    status: TaskStatus
    start_time: datetime | None
    end_time: datetime | None
    inputs: dict[str, Any] | None
    outputs: dict[str, Any] | None
    error: str | None
    is_downstream_of_pause: bool
    attempts: int
    ready_time: datetime | None
    traceback: str | None


class WorkflowVersionResponseSchema(TypedDict):
    """A workflow version as embedded in a run."""

    version: int
    name: str
    description: str | None
    definition: dict[str, Any]
    definition_hash: str
    created_at: datetime
    updated_at: datetime


class WorkflowVersionListItem(WorkflowVersionResponseSchema):
    """A version in ``GET /wf/{id}/versions/``."""

    id: str
    workflow_id: str


class RunResponseSchema(TypedDict):
    """A run (docs/runs-api.md#run): ``duration`` in seconds, ``percentage_complete``
    from 0 to 100, ``outputs`` keyed by node id."""

    id: str
    workflow_id: str
    workflow_version_id: str | None
    workflow_version: WorkflowVersionResponseSchema | None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    initial_inputs: dict[str, dict[str, Any]] | None
    outputs: dict[str, dict[str, Any] | None] | None
    tasks: list[TaskResponseSchema]
    parent_run_id: str | None
    run_type: str
    output_file_id: str | None
    input_dataset_id: str | None
    message: str | None
    duration: float | None
    percentage_complete: float
    #: who started, canceled, last retried the run: a token's name, null with auth off
    #: (docs/security.md §4)
    started_by: str | None
    canceled_by: str | None
    retried_by: str | None
    # additive (docs/operations.md): given at start, the schedule's fire, the lineage
    tags: list[str]
    metadata: dict[str, str]
    schedule_id: str | None
    scheduled_for: datetime | None
    rerun_of: str | None
    reruns: list[str]


class RunSummarySchema(TypedDict):
    """A run in ``GET /run/?view=summary`` (docs/operations.md): a
    :class:`RunResponseSchema` without ``tasks``, ``workflow_version`` (with its
    definition), ``initial_inputs`` and ``outputs``."""

    id: str
    workflow_id: str
    workflow_version_id: str | None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    parent_run_id: str | None
    run_type: str
    output_file_id: str | None
    input_dataset_id: str | None
    message: str | None
    duration: float | None
    percentage_complete: float
    started_by: str | None
    canceled_by: str | None
    retried_by: str | None
    tags: list[str]
    metadata: dict[str, str]
    schedule_id: str | None
    scheduled_for: datetime | None
    rerun_of: str | None
    reruns: list[str]


class PauseHistoryResponseSchema(TypedDict):
    """One pause of a run (docs/runs-api.md#pause-cancel-retry)."""

    id: str
    run_id: str
    node_id: str
    pause_message: str | None
    pause_time: datetime
    resume_time: datetime | None
    resume_user_id: str | None
    resume_action: PauseAction | None
    input_data: dict[str, Any] | None
    comments: str | None


#: Stored run fields no response shows, and why.
HIDDEN_RUN_FIELDS: dict[str, str] = {
    "parent_task_id": "engine bookkeeping: which task of the parent waits on this child run",
    "seq": "engine bookkeeping: the child's index (loop iteration, batch row)",
    "rows_total": "shown as percentage_complete of a batch",
    "rows_done": "shown as percentage_complete of a batch",
    "mini_batch_size": "a setting of the batch request, not a result",
    "lease_owner": "process coordination: which process executes the run",
    "lease_expires_at": "process coordination: when another process may take over",
    "scope": "engine bookkeeping: which body of the version a child run executes",
    "run_metadata": "shown as metadata",
}
#: Stored task fields no response shows, and why.
HIDDEN_TASK_FIELDS: dict[str, str] = {
    "position": "shown as the order of the run's task list",
}


def duration_s(run: RunRecord, at: datetime) -> float | None:
    """Seconds: end - start when ended, now - start while RUNNING/PAUSED, None while PENDING."""
    if run.end_time is not None:
        return max((run.end_time - run.start_time).total_seconds(), 0.0)
    if run.status in (RunStatus.RUNNING, RunStatus.PAUSED):
        return max((at - run.start_time).total_seconds(), 0.0)
    return None


def percentage_complete(run: RunRecord, tasks: list[TaskRecord]) -> float:
    """0 to 100: exactly 100.0 when COMPLETED, else completed share rounded to 2 decimals.

    Batch parents count finished rows. Never 100 before completion, never a
    division by zero.
    """
    done = sum(1 for t in tasks if t.status is TaskStatus.COMPLETED)
    return percentage_of(run, done, len(tasks))


def percentage_of(run: RunRecord, done: int, total: int) -> float:
    """:func:`percentage_complete` from counts: ``done`` COMPLETED of ``total`` tasks."""
    if run.status is RunStatus.COMPLETED:
        return 100.0
    if run.rows_total is not None:
        done, total = run.rows_done, run.rows_total
    if total <= 0:
        return 0.0
    return min(round(100.0 * done / total, 2), 99.99)


def downstream_of_pause(tasks: list[TaskRecord], graph: Graph | None) -> set[str]:
    """Node ids of PENDING tasks that wait, transitively, on a PAUSED task."""
    paused = {t.node_id for t in tasks if t.status is TaskStatus.PAUSED}
    if not paused or graph is None:
        return set()
    pending = {t.node_id for t in tasks if t.status is TaskStatus.PENDING}
    return graph.downstream(paused) & pending


def task_view(task: TaskRecord, downstream: bool = False) -> TaskResponseSchema:
    """TaskResponseSchema of a task; ``downstream``: it waits on a PAUSED task."""
    return {
        "id": task.id,
        "run_id": task.run_id,
        "node_id": task.node_id,
        "node_type": task.node_type,
        "status": task.status,
        "start_time": task.start_time,
        "end_time": task.end_time,
        "inputs": task.inputs,
        "outputs": task.outputs,
        "error": task.error if task.status is TaskStatus.FAILED else None,
        "is_downstream_of_pause": downstream,
        "attempts": task.attempts,
        "ready_time": task.ready_time,
        "traceback": task.traceback if task.status is TaskStatus.FAILED else None,
    }


def version_view(version: VersionRecord | None) -> WorkflowVersionResponseSchema | None:
    """WorkflowVersionResponseSchema of a version (None for None)."""
    if version is None:
        return None
    return {
        "version": version.version,
        "name": version.name,
        "description": version.description,
        "definition": version.definition,
        "definition_hash": version.definition_hash,
        "created_at": version.created_at,
        "updated_at": version.updated_at,
    }


def run_outputs(tasks: list[TaskRecord]) -> dict[str, Any]:
    """A run's ``outputs``: ``{node_id: outputs}`` of its COMPLETED tasks (docs/runs-api.md#run)."""
    return {t.node_id: t.outputs for t in tasks if t.status is TaskStatus.COMPLETED}


def run_view(
    run: RunRecord,
    tasks: list[TaskRecord],
    version: VersionRecord | None,
    at: datetime,
    graph: Graph | None = None,
    reruns: list[str] | None = None,
) -> RunResponseSchema:
    """RunResponseSchema of a run. ``graph`` is needed only when a task is PAUSED;
    ``reruns`` are the ids of the runs that rerun this one (docs/operations.md)."""
    downstream = downstream_of_pause(tasks, graph)
    outputs = run_outputs(tasks)
    return {
        "id": run.id,
        "workflow_id": run.workflow_id,
        "workflow_version_id": run.workflow_version_id,
        "workflow_version": version_view(version),
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "initial_inputs": run.initial_inputs,
        "outputs": outputs or None,
        "tasks": [task_view(t, t.node_id in downstream) for t in tasks],
        "parent_run_id": run.parent_run_id,
        "run_type": run.run_type,
        "output_file_id": run.output_file_id,
        "input_dataset_id": run.input_dataset_id,
        "message": run.message,
        "duration": duration_s(run, at),
        "percentage_complete": percentage_complete(run, tasks),
        "started_by": run.started_by,
        "canceled_by": run.canceled_by,
        "retried_by": run.retried_by,
        "tags": run.tags or [],
        "metadata": run.run_metadata or {},
        "schedule_id": run.schedule_id,
        "scheduled_for": run.scheduled_for,
        "rerun_of": run.rerun_of,
        "reruns": reruns or [],
    }


def run_summary(
    run: RunRecord, counts: tuple[int, int], at: datetime, reruns: list[str] | None = None
) -> RunSummarySchema:
    """The lean list item of ``GET /run/?view=summary``: the run without its tasks,
    version (definition), inputs and outputs; ``counts`` is (tasks, COMPLETED tasks)
    for ``percentage_complete`` (docs/operations.md)."""
    return {
        "id": run.id,
        "workflow_id": run.workflow_id,
        "workflow_version_id": run.workflow_version_id,
        "status": run.status,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "parent_run_id": run.parent_run_id,
        "run_type": run.run_type,
        "output_file_id": run.output_file_id,
        "input_dataset_id": run.input_dataset_id,
        "message": run.message,
        "duration": duration_s(run, at),
        "percentage_complete": percentage_of(run, counts[1], counts[0]),
        "started_by": run.started_by,
        "canceled_by": run.canceled_by,
        "retried_by": run.retried_by,
        "tags": run.tags or [],
        "metadata": run.run_metadata or {},
        "schedule_id": run.schedule_id,
        "scheduled_for": run.scheduled_for,
        "rerun_of": run.rerun_of,
        "reruns": reruns or [],
    }


def pause_view(pause: PauseRecord) -> PauseHistoryResponseSchema:
    """PauseHistoryResponseSchema of a pause record."""
    return {
        "id": pause.id,
        "run_id": pause.run_id,
        "node_id": pause.node_id,
        "pause_message": pause.pause_message,
        "pause_time": pause.pause_time,
        "resume_time": pause.resume_time,
        "resume_user_id": pause.resume_user_id,
        "resume_action": PauseAction(pause.resume_action) if pause.resume_action else None,
        "input_data": pause.input_data,
        "comments": pause.comments,
    }


def version_item(version: VersionRecord) -> WorkflowVersionListItem:
    """WorkflowVersionListItem of a version."""
    embedded = version_view(version)
    assert embedded is not None
    return {"id": version.id, "workflow_id": version.workflow_id, **embedded}
