"""How a run and its tasks look to clients: RunResponseSchema and TaskResponseSchema
values (SPEC §2.1, §2.2), derived from stored records at read time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from spurline.engine.graph import Graph
from spurline.engine.records import PauseRecord, RunRecord, TaskRecord, VersionRecord
from spurline.engine.states import RunStatus, TaskStatus


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


def task_view(task: TaskRecord, downstream: bool = False) -> dict[str, Any]:
    """TaskResponseSchema as a dict."""
    return {
        "id": task.id,
        "run_id": task.run_id,
        "node_id": task.node_id,
        "node_type": task.node_type,
        "status": task.status.value,
        "start_time": task.start_time,
        "end_time": task.end_time,
        "inputs": task.inputs,
        "outputs": task.outputs,
        "error": task.error if task.status is TaskStatus.FAILED else None,
        "is_downstream_of_pause": downstream,
    }


def version_view(version: VersionRecord | None) -> dict[str, Any] | None:
    """WorkflowVersionResponseSchema as a dict."""
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


def run_view(
    run: RunRecord,
    tasks: list[TaskRecord],
    version: VersionRecord | None,
    at: datetime,
    graph: Graph | None = None,
    reruns: list[str] | None = None,
) -> dict[str, Any]:
    """RunResponseSchema as a dict. ``graph`` is needed only when a task is PAUSED;
    ``reruns`` are the ids of the runs that rerun this one (docs/operations.md)."""
    downstream = downstream_of_pause(tasks, graph)
    outputs = {t.node_id: t.outputs for t in tasks if t.status is TaskStatus.COMPLETED}
    return {
        "id": run.id,
        "workflow_id": run.workflow_id,
        "workflow_version_id": run.workflow_version_id,
        "workflow_version": version_view(version),
        "status": run.status.value,
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
        **operations_view(run, reruns),
    }


def operations_view(run: RunRecord, reruns: list[str] | None) -> dict[str, Any]:
    """The fields a run has beyond the seed's: tags, metadata, its schedule and fire
    time, and its lineage (docs/operations.md)."""
    return {
        "tags": run.tags or [],
        "metadata": run.run_metadata or {},
        "schedule_id": run.schedule_id,
        "scheduled_for": run.scheduled_for,
        "rerun_of": run.rerun_of,
        "reruns": reruns or [],
    }


_SUMMARY_LEFT_OUT = ("tasks", "workflow_version", "initial_inputs", "outputs")


def run_summary(
    run: RunRecord, counts: tuple[int, int], at: datetime, reruns: list[str] | None = None
) -> dict[str, Any]:
    """The lean list item of ``GET /run/?view=summary``: the run without its tasks,
    version (definition), inputs and outputs; ``counts`` is (tasks, COMPLETED tasks)
    for ``percentage_complete`` (docs/operations.md)."""
    view = run_view(run, [], None, at, None, reruns)
    for key in _SUMMARY_LEFT_OUT:
        del view[key]
    view["percentage_complete"] = percentage_of(run, counts[1], counts[0])
    return view


def pause_view(pause: PauseRecord) -> dict[str, Any]:
    """PauseHistoryResponseSchema as a dict (SPEC §5)."""
    return {
        "id": pause.id,
        "run_id": pause.run_id,
        "node_id": pause.node_id,
        "pause_message": pause.pause_message,
        "pause_time": pause.pause_time,
        "resume_time": pause.resume_time,
        "resume_user_id": pause.resume_user_id,
        "resume_action": pause.resume_action,
        "input_data": pause.input_data,
        "comments": pause.comments,
    }
