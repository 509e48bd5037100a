"""Request and response schemas of the HTTP API (see docs/runs-api.md).

The run, task, version and pause shapes are defined once, in
:mod:`spurline.engine.views`, which builds them as plain dicts for orjson; they are
re-exported here, beside the request models and the other response models, so that
routes and OpenAPI take every schema from this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo

from spurline.engine.jsonvalue import json_problem
from spurline.engine.pauses import PauseAction
from spurline.engine.states import RunStatus, TaskStatus
from spurline.engine.views import (
    PauseHistoryResponseSchema,
    RunResponseSchema,
    RunSummarySchema,
    TaskResponseSchema,
    WorkflowVersionListItem,
    WorkflowVersionResponseSchema,
)

__all__ = [
    "PauseHistoryResponseSchema",
    "RunResponseSchema",
    "RunSummarySchema",
    "TaskResponseSchema",
    "WorkflowVersionListItem",
    "WorkflowVersionResponseSchema",
]


def _strict_json(value: Any, info: ValidationInfo) -> Any:
    # Python's JSON parser accepts NaN and Infinity, which RFC 8259 JSON has not (stored,
    # they would silently become null), and values the store cannot encode (NUL, lone
    # surrogates, huge integers, deep nesting) would fail on write: 422 instead
    # (docs/runs-api.md#errors).
    problem = json_problem(value, info.field_name or "value")
    if problem:
        raise ValueError(problem)
    return value


#: A JSON object from a request body that the store can hold (see json_problem).
JsonObject = Annotated[dict[str, Any], AfterValidator(_strict_json)]


def _label(value: str, info: ValidationInfo) -> str:
    _strict_json(value, info)
    if "\x00" in value:
        raise ValueError("must not contain NUL")
    return value


#: A tag, a metadata key: 1 to 200 characters.
Label = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_label)]
#: A metadata value: at most 1,000 characters.
LabelValue = Annotated[str, Field(max_length=1000), AfterValidator(_label)]
Tags = Annotated[list[Label], Field(max_length=50, description="Tags to find the run by")]
Metadata = Annotated[
    dict[Label, LabelValue],
    Field(max_length=50, description="{key: value} strings to find the run by"),
]
IdempotencyKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="The same key within 24 h returns the first run (header Idempotency-Key)",
    ),
    AfterValidator(_label),
]


class StartOptionsFields(BaseModel):
    """Tags, metadata and an idempotency key: accepted by every way of starting a run."""

    tags: Tags | None = None
    metadata: Metadata | None = None
    idempotency_key: IdempotencyKey | None = None


class WorkflowCreateRequest(BaseModel):
    """Body of ``POST /wf/`` and ``PUT /wf/{id}/``; ``definition`` is required on the
    root paths, and may be left out or empty under ``/api`` (docs/pyspur.md).

    ``definition`` is checked for what the store can hold by ``definition_for_save``, on a
    worker thread: a large one would hold the event loop
    (docs/reliability.md#validation-and-bad-input)."""

    name: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_strict_json)]
    description: Annotated[str | None, Field(max_length=100_000), AfterValidator(_strict_json)] = (
        None
    )
    definition: dict[str, Any] | None = None


class WorkflowResponseSchema(BaseModel):
    """A workflow with its current definition."""

    id: str
    name: str
    description: str | None
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class StartRunRequest(StartOptionsFields):
    """Body of ``start_run`` and ``run``: ``{input_node_id: {field: value}}``."""

    model_config = ConfigDict(extra="ignore")

    initial_inputs: Annotated[dict[str, dict[str, Any]], AfterValidator(_strict_json)] | None = None
    parent_run_id: str | None = None


class RunFailedDetail(BaseModel):
    """``detail`` of a blocking run that ended FAILED or CANCELED."""

    message: str
    run: RunResponseSchema


class RunFailedResponse(BaseModel):
    """422/409 body of a blocking run that did not complete."""

    detail: RunFailedDetail


class Problem(BaseModel):
    """One problem with a request: where (``loc``), what (``msg``), which kind (``type``)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ProblemsResponse(BaseModel):
    """422 body for a request that was rejected: every problem found."""

    detail: list[Problem]


class ErrorResponse(BaseModel):
    """Every error: ``{"detail": ...}`` (docs/runs-api.md#errors)."""

    detail: Any


class DatasetResponseSchema(BaseModel):
    """An uploaded dataset (docs/child-runs-and-batches.md)."""

    id: str
    name: str
    description: str | None
    columns: list[str]
    row_count: int
    uploaded_at: datetime


class OutputFileResponseSchema(BaseModel):
    """An output file's metadata (docs/child-runs-and-batches.md)."""

    id: str
    run_id: str | None
    file_name: str
    created_at: datetime
    updated_at: datetime


class BatchRunRequest(StartOptionsFields):
    """Body of ``POST /wf/{id}/start_batch_run/``."""

    dataset_id: str = Field(min_length=1)
    mini_batch_size: int = Field(default=10, ge=1, le=1000)


class PauseActionRequest(BaseModel):
    """Body of ``POST /wf/process_pause_action/{run_id}/`` (docs/runs-api.md#pause-cancel-retry)."""

    inputs: JsonObject = Field(
        default_factory=dict,
        description="APPROVE: merged into the node's inputs; OVERRIDE: the node's output",
    )
    user_id: str = Field(min_length=1, max_length=200)
    action: PauseAction
    comments: str | None = Field(default=None, max_length=100_000)
    node_id: str | None = Field(
        default=None, description="Required when several nodes of the run are paused"
    )


class CancelRequest(BaseModel):
    """Optional body of ``POST /wf/cancel_workflow/{run_id}/``: who cancels, kept in the
    run's ``message`` ("Canceled by <user_id>")."""

    user_id: str | None = Field(default=None, min_length=1, max_length=200)


class PausedWorkflowResponseSchema(BaseModel):
    """A paused run with its unresolved pause and its workflow
    (docs/runs-api.md#pause-cancel-retry)."""

    run: RunResponseSchema
    current_pause: PauseHistoryResponseSchema | None
    workflow: WorkflowResponseSchema


class OutputVariable(BaseModel):
    """A field of a leaf node of a workflow (``GET /wf/{id}/output_variables/``)."""

    node_id: str
    variable_name: str
    prefixed_variable: str = Field(description='"<node_id>-<variable_name>"')


class PartialRunRequest(BaseModel):
    """Body of ``POST /wf/{id}/run_partial/`` (docs/pyspur.md)."""

    node_id: str = Field(min_length=1, description="the node to run")
    initial_inputs: JsonObject | None = Field(
        default=None, description="{input_node_id: {field: value}}"
    )
    partial_outputs: JsonObject | None = Field(
        default=None, description="{node_id: output} of predecessors, used instead of running them"
    )
    rerun_predecessors: bool = Field(
        default=False, description="run the predecessors too, ignoring partial_outputs"
    )


class LlmCallSchema(BaseModel):
    """One call of an LLM node to its provider (docs/pyspur.md)."""

    id: str
    run_id: str
    task_id: str | None
    node_id: str
    model: str = Field(description="as in llm_info.model, provider prefix included")
    provider: str
    messages: list[dict[str, Any]] = Field(description="the rendered chat messages sent")
    answer: str | None = Field(description="the raw answer text")
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None = Field(description="estimated from genai-prices; null when unknown")
    latency_s: float
    created_at: datetime


MisfirePolicy = Literal["skip", "run_once"]


class ScheduleCreateRequest(BaseModel):
    """Body of ``POST /wf/schedules/`` (PySpur's fields, and more; docs/operations.md)."""

    workflow_id: str = Field(min_length=1, max_length=40)
    name: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_label)]
    cron_expression: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=200,
                description="5 fields (minute hour day month weekday), or 6 with seconds first",
            ),
            AfterValidator(_label),
        ]
        | None
    ) = None
    interval_seconds: int | None = Field(
        default=None, ge=1, le=366 * 86400, description="Instead of a cron expression"
    )
    timezone: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_label)] = Field(
        default="UTC", description="IANA time zone the cron expression is read in"
    )
    initial_inputs: Annotated[dict[str, dict[str, Any]], AfterValidator(_strict_json)] | None = None
    enabled: bool = True
    misfire_policy: MisfirePolicy = Field(
        default="skip",
        description="A fire missed while no server ran: skip it, or run once for all missed",
    )
    tags: Tags | None = None
    metadata: Metadata | None = None


class ScheduleUpdateRequest(BaseModel):
    """Body of ``PUT /wf/schedules/{id}``: fields left out (or null) stay as they are."""

    name: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_label)] | None = None
    cron_expression: (
        Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_label)] | None
    ) = None
    interval_seconds: int | None = Field(default=None, ge=1, le=366 * 86400)
    timezone: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_label)] | None = (
        None
    )
    initial_inputs: Annotated[dict[str, dict[str, Any]], AfterValidator(_strict_json)] | None = None
    enabled: bool | None = None
    misfire_policy: MisfirePolicy | None = None
    tags: Tags | None = None
    metadata: Metadata | None = None


class ScheduleResponseSchema(BaseModel):
    """A schedule (PySpur's WorkflowScheduleResponseSchema, and more)."""

    id: str
    workflow_id: str
    name: str
    cron_expression: str | None
    interval_seconds: int | None
    timezone: str
    initial_inputs: dict[str, Any] | None
    enabled: bool
    misfire_policy: MisfirePolicy
    last_run_at: datetime | None
    next_run_at: datetime | None
    last_run_id: str | None
    disabled_reason: str | None
    tags: list[str]
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime


class ScheduleListResponseSchema(BaseModel):
    """``GET /wf/schedules/``, as PySpur."""

    schedules: list[ScheduleResponseSchema]
    total: int
    page: int
    page_size: int


class TriggerCreateRequest(BaseModel):
    """Body of ``POST /wf/{workflow_id}/triggers/``."""

    name: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_label)] = "webhook"
    tags: Tags | None = None
    metadata: Metadata | None = None


class TriggerResponseSchema(BaseModel):
    """A webhook trigger: POST the InputNode's fields as JSON to ``url``."""

    id: str
    workflow_id: str
    name: str
    url: str
    tags: list[str]
    metadata: dict[str, str]
    created_at: datetime
    last_used_at: datetime | None


class TriggerCreatedResponse(TriggerResponseSchema):
    """A new trigger with its secret: shown this once, send it as ``X-Spurline-Secret``."""

    secret: str


class TriggerRunResponse(BaseModel):
    """What a trigger answers: the run it started (or, for a repeated idempotency key,
    the run that key started)."""

    run_id: str
    status: RunStatus
    url: str


class RerunRequest(StartOptionsFields):
    """Body of ``POST /run/{run_id}/rerun/``: every field optional (docs/operations.md)."""

    initial_inputs: Annotated[dict[str, dict[str, Any]], AfterValidator(_strict_json)] | None = None
    latest_version: bool = Field(
        default=False, description="Run the workflow's current version, not the run's"
    )
    from_node: str | None = Field(
        default=None,
        max_length=200,
        description="Execute this node and what depends on it again; reuse the rest",
    )


class PruneRequest(BaseModel):
    """Body of ``POST /run/prune/`` (docs/operations.md, Retention)."""

    model_config = ConfigDict(extra="forbid")

    older_than: str = Field(
        max_length=40,
        description="Prune runs that ended more than this long ago: a number and a unit "
        "s, m, h, d or w (30d)",
    )
    statuses: list[Annotated[str, Field(max_length=20)]] = Field(
        default_factory=list,
        max_length=3,
        description="Only runs with these statuses (COMPLETED, FAILED, CANCELED); empty: all three",
    )
    dry_run: bool = Field(default=False, description="Count what would be pruned; delete nothing")


class PruneResponse(BaseModel):
    """What a prune removed (with ``dry_run``: would remove)."""

    runs: int = Field(description="Top-level runs")
    runs_with_children: int = Field(description="Runs including their child runs")
    output_files: int = Field(description="Output files removed (0 on a dry run)")
    datasets: int = Field(description="Datasets no run refers to, uploaded before the cutoff")
    batches: int = Field(description="Transactions used")
    dry_run: bool


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range in UTC") from None


#: A datetime with a UTC offset, as UTC (``GET /run/?start_date=``).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class AttemptResponseSchema(BaseModel):
    """One try of a task (docs/observability.md); a RUNNING task's current try has
    no ``id`` and ``started_by`` yet (they are stored when it ends)."""

    id: str | None
    task_id: str
    node_id: str
    number: int = Field(description="1 for the first try; never reused, never reset")
    status: TaskStatus
    ready_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    error: str | None
    traceback: str | None
    started_by: str | None = Field(description="run, node retry, run retry or takeover")


class LogLineResponseSchema(BaseModel):
    """One captured line of a task attempt (docs/observability.md)."""

    id: int = Field(description="the line's event id (as in the event stream)")
    task_id: str
    node_id: str
    attempt: int
    time: datetime
    stream: str = Field(
        description="stdout, stderr, log (logging / the log helper), meta, or a stream a "
        "node publishes while it runs (llm: an LLM answer)"
    )
    level: str
    line: str
