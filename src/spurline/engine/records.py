"""Plain records the engine reads and writes through :class:`Persistence`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from spurline.engine.states import RunStatus, TaskStatus


@dataclass
class VersionRecord:
    """An immutable workflow version (docs/runs-api.md#words)."""

    id: str
    workflow_id: str
    version: int
    name: str
    description: str | None
    definition: dict[str, Any]
    definition_hash: str
    created_at: datetime
    updated_at: datetime


@dataclass
class RunRecord:
    """One run. ``seq`` orders a parent's children (batch row / loop iteration).

    ``scope`` is set on a child run that executes an embedded body of its version (a
    loop body or an embedded sub-workflow): the path of body node ids, encoded by
    :func:`spurline.engine.scopes.encode_scope`; None runs the version's top level.

    ``tags`` and ``run_metadata`` (``{key: value}`` strings) are given at start;
    ``schedule_id`` and ``scheduled_for`` name the schedule and fire time that started
    the run; ``rerun_of`` the run it reruns (docs/operations.md).
    """

    id: str
    workflow_id: str
    workflow_version_id: str | None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None = None
    initial_inputs: dict[str, Any] | None = None
    parent_run_id: str | None = None
    parent_task_id: str | None = None
    seq: int | None = None
    run_type: str = "interactive"
    output_file_id: str | None = None
    input_dataset_id: str | None = None
    message: str | None = None
    rows_total: int | None = None
    rows_done: int = 0
    mini_batch_size: int | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    scope: str | None = None
    started_by: str | None = None
    canceled_by: str | None = None
    retried_by: str | None = None
    tags: list[str] | None = None
    run_metadata: dict[str, Any] | None = None
    schedule_id: str | None = None
    scheduled_for: datetime | None = None
    rerun_of: str | None = None


@dataclass(frozen=True)
class StartOptions:
    """How a run is started beyond its inputs (docs/operations.md).

    Attributes:
        tags: labels to find the run by (``GET /run/?tag=``).
        metadata: ``{key: value}`` strings to find the run by (``?metadata=key=value``).
        idempotency_key: the same key within 24 h returns the first run it started.
        run_type: "interactive", "batch", "scheduled", "trigger" or "rerun".
        actor: who starts the run, recorded as ``started_by``: a token's name,
            ``schedule:<id>`` or ``trigger:<id>``, None with auth off (docs/security.md
            §4, docs/operations.md).
    """

    tags: tuple[str, ...] = ()
    metadata: dict[str, str] | None = None
    idempotency_key: str | None = None
    run_type: str = "interactive"
    actor: str | None = None


@dataclass
class TaskRecord:
    """One node's execution in a run. ``position`` is its topological index."""

    id: str
    run_id: str
    node_id: str
    node_type: str
    position: int
    status: TaskStatus = TaskStatus.PENDING
    start_time: datetime | None = None
    end_time: datetime | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    traceback: str | None = None
    ready_time: datetime | None = None


@dataclass
class LogLine:
    """One captured line of a task attempt's output (docs/observability.md).

    ``stream`` is ``stdout``, ``stderr`` or ``log`` (the logging module and the node
    ``log`` helper), ``meta``, or a stream a node publishes while it runs
    (``NodeContext.stream``: ``llm`` ...); ``level`` a logging level name.
    """

    time: datetime
    stream: str
    level: str
    line: str


@dataclass
class AttemptRecord:
    """One try of a task (docs/observability.md).

    ``number`` counts from 1 over the task's whole life (node retries, run retries and
    takeovers continue it); ``started_by`` says what started it: ``run``, ``node
    retry``, ``run retry``, ``resume`` or ``takeover``. ``ready_time`` is when the task
    could start, ``start_time`` when its code began (the gap is time spent queued for
    a free worker process).
    """

    id: str
    task_id: str
    run_id: str
    node_id: str
    number: int
    status: TaskStatus
    ready_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None = None
    error: str | None = None
    traceback: str | None = None
    started_by: str = "run"
    logs: list[LogLine] = field(default_factory=list)


class AttemptTally(NamedTuple):
    """What a task's stored attempts say about its try in flight
    (docs/reliability.md#poison-runs).

    Attributes:
        last: number of the newest stored attempt (0: none).
        crashes: how many of the newest attempts in a row crashed their process, back
            to one that ended any other way (a crash that failed the task included:
            a run retry starts a new count).
    """

    last: int
    crashes: int


#: The error of an attempt whose process died while it ran (docs/observability.md).
CRASHED_ERROR = "ProcessLost: the process executing this attempt stopped; the run was taken over"
#: How the error of the crash that ends a task FAILED begins
#: (docs/reliability.md#poison-runs).
CRASH_LIMIT_ERROR = "NodeCrashed: "
#: The error of an attempt a shutting-down process stopped and handed over
#: (docs/reliability.md#clean-shutdown): not a crash.
INTERRUPTED_ERROR = (
    "Interrupted: the process executing this attempt shut down before it finished; "
    "the run was handed over"
)


def tally_attempts(attempts: Iterable[tuple[int, str | None]]) -> AttemptTally:
    """The :class:`AttemptTally` of a task's stored attempts, given as
    ``(number, error)`` in any order (docs/reliability.md#poison-runs).
    """
    newest_first = sorted(attempts, key=lambda a: -a[0])
    crashes = 0
    for _number, error in newest_first:
        if error != CRASHED_ERROR:
            break
        crashes += 1
    return AttemptTally(newest_first[0][0] if newest_first else 0, crashes)


@dataclass
class PauseRecord:
    """One pause of a run at a HumanInterventionNode (docs/runs-api.md#pause-cancel-retry)."""

    id: str
    run_id: str
    node_id: str
    pause_message: str | None
    pause_time: datetime
    resume_time: datetime | None = None
    resume_user_id: str | None = None
    resume_action: str | None = None
    input_data: dict[str, Any] | None = None
    comments: str | None = None


@dataclass
class RunSnapshot:
    """A run with its tasks (position order) and its version, as read in one go."""

    run: RunRecord
    tasks: list[TaskRecord] = field(default_factory=list)
    version: VersionRecord | None = None
    reruns: list[str] = field(default_factory=list)
