"""The shapes the API answers with, as typed dicts (see docs/client.md).

They mirror the server's response models field for field (a test compares them with
the OpenAPI document), and cost nothing to import: the client parses JSON once and
hands the dicts over as they are. Times are ISO 8601 strings with a UTC offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar

T = TypeVar("T")

#: ``{input_node_id: {field: value}}`` or ``{node_id: output}``.
NodeValues = dict[str, dict[str, Any]]


class Task(TypedDict):
    """One node's execution in a run (``TaskResponseSchema``)."""

    id: str
    run_id: str
    node_id: str
    node_type: str
    status: str
    start_time: str | None
    end_time: str | None
    inputs: dict[str, Any] | None
    outputs: dict[str, Any] | None
    error: str | None
    is_downstream_of_pause: bool
    attempts: int
    ready_time: str | None
    traceback: str | None


class WorkflowVersion(TypedDict):
    """A workflow version as embedded in a run (``WorkflowVersionResponseSchema``)."""

    version: int
    name: str
    description: str | None
    definition: dict[str, Any]
    definition_hash: str
    created_at: str
    updated_at: str


class VersionListItem(WorkflowVersion):
    """A version in ``GET /wf/{id}/versions/`` (``WorkflowVersionListItem``)."""

    id: str
    workflow_id: str


class Run(TypedDict):
    """A run with its tasks (``RunResponseSchema``)."""

    id: str
    workflow_id: str
    workflow_version_id: str | None
    workflow_version: WorkflowVersion | None
    status: str
    start_time: str
    end_time: str | None
    initial_inputs: NodeValues | None
    outputs: NodeValues | None
    tasks: list[Task]
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
    scheduled_for: str | None
    rerun_of: str | None
    reruns: list[str]


class Workflow(TypedDict):
    """A workflow with its current definition (``WorkflowResponseSchema``)."""

    id: str
    name: str
    description: str | None
    definition: dict[str, Any]
    created_at: str
    updated_at: str


class PauseRecord(TypedDict):
    """One pause of a run (``PauseHistoryResponseSchema``)."""

    id: str
    run_id: str
    node_id: str
    pause_message: str | None
    pause_time: str
    resume_time: str | None
    resume_user_id: str | None
    resume_action: str | None
    input_data: dict[str, Any] | None
    comments: str | None


class PausedRun(TypedDict):
    """A paused run with its open pause and workflow (``PausedWorkflowResponseSchema``)."""

    run: Run
    current_pause: PauseRecord | None
    workflow: Workflow


class Dataset(TypedDict):
    """An uploaded dataset (``DatasetResponseSchema``)."""

    id: str
    name: str
    description: str | None
    columns: list[str]
    row_count: int
    uploaded_at: str


class OutputFile(TypedDict):
    """An output file's metadata (``OutputFileResponseSchema``)."""

    id: str
    run_id: str | None
    file_name: str
    created_at: str
    updated_at: str


class PruneReport(TypedDict):
    """What a prune removed, or would remove (``PruneResponse``, docs/operations.md)."""

    runs: int
    runs_with_children: int
    output_files: int
    datasets: int
    batches: int
    dry_run: bool


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and the size of the whole list.

    Attributes:
        items: this page's items, in the server's order.
        total: how many items the whole list holds (``X-Total-Count``).
        page: the page number, from 1 (None when the list was not paged).
        page_size: items per page (None when the list was not paged).
    """

    items: list[T]
    total: int
    page: int | None
    page_size: int | None


class Attempt(TypedDict):
    """One try of a task (``AttemptResponseSchema``, docs/observability.md); a RUNNING
    task's current try has no ``id`` and ``started_by`` yet."""

    id: str | None
    task_id: str
    node_id: str
    number: int
    status: str
    ready_time: str | None
    start_time: str | None
    end_time: str | None
    error: str | None
    traceback: str | None
    started_by: str | None


class LogLine(TypedDict):
    """One captured line of a task attempt (``LogLineResponseSchema``); ``id`` is its
    event id in the event stream (docs/observability.md)."""

    id: int
    task_id: str
    node_id: str
    attempt: int
    time: str
    stream: str
    level: str
    line: str


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of ``GET /run/{id}/events/`` (docs/observability.md).

    Attributes:
        id: the event id to resume after (``Last-Event-ID``); None for ``end``.
        event: ``run``, ``task``, ``attempt``, ``log``, ``batch`` or ``end``.
        data: the event's JSON object (``run_id``, ``workflow_id``, ``time`` ...).
    """

    id: int | None
    event: str
    data: dict[str, Any]
