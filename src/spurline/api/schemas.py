"""Request and response schemas of the HTTP API (SPEC §2, §4).

Responses are built as dicts by :mod:`spurline.engine.views` and serialized with
orjson; these models document them in OpenAPI and validate requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo

from spurline.engine.jsonvalue import json_problem
from spurline.engine.pauses import PauseAction
from spurline.engine.states import RunStatus, TaskStatus


def _strict_json(value: Any, info: ValidationInfo) -> Any:
    # Python's JSON parser accepts NaN and Infinity, which RFC 8259 JSON has not (stored,
    # they would silently become null), and values the store cannot encode (NUL, lone
    # surrogates, huge integers, deep nesting) would fail on write: 422 instead (SPEC §8).
    problem = json_problem(value, info.field_name or "value")
    if problem:
        raise ValueError(problem)
    return value


#: A JSON object from a request body that the store can hold (see json_problem).
JsonObject = Annotated[dict[str, Any], AfterValidator(_strict_json)]


class TaskResponseSchema(BaseModel):
    """One node's execution (SPEC §2.2)."""

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


class WorkflowVersionResponseSchema(BaseModel):
    """A workflow version as embedded in a run."""

    version: int
    name: str
    description: str | None
    definition: dict[str, Any]
    definition_hash: str
    created_at: datetime
    updated_at: datetime


class RunResponseSchema(BaseModel):
    """A run (SPEC §2.1)."""

    id: str
    workflow_id: str
    workflow_version_id: str | None
    workflow_version: WorkflowVersionResponseSchema | None
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    initial_inputs: dict[str, dict[str, Any]] | None
    outputs: dict[str, dict[str, Any]] | None
    tasks: list[TaskResponseSchema]
    parent_run_id: str | None
    run_type: str
    output_file_id: str | None
    input_dataset_id: str | None
    message: str | None
    duration: float | None
    percentage_complete: float
    tags: list[str] = Field(default_factory=list, description="Given at start")
    metadata: dict[str, str] = Field(default_factory=dict, description="Given at start")
    schedule_id: str | None = Field(default=None, description="The schedule that started it")
    scheduled_for: datetime | None = Field(
        default=None, description="The schedule's fire time this run is for"
    )
    rerun_of: str | None = Field(default=None, description="The run this run reruns")
    reruns: list[str] = Field(default_factory=list, description="Runs that rerun this one")


class RunSummarySchema(BaseModel):
    """A run in ``GET /run/?view=summary``: no tasks, version, inputs or outputs
    (docs/operations.md)."""

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
    tags: list[str]
    metadata: dict[str, str]
    schedule_id: str | None
    scheduled_for: datetime | None
    rerun_of: str | None
    reruns: list[str]


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
    """Body of ``POST /wf/`` and ``PUT /wf/{id}/``."""

    name: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_strict_json)]
    description: Annotated[str | None, Field(max_length=100_000), AfterValidator(_strict_json)] = (
        None
    )
    definition: JsonObject


class WorkflowResponseSchema(BaseModel):
    """A workflow with its current definition."""

    id: str
    name: str
    description: str | None
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class WorkflowVersionListItem(WorkflowVersionResponseSchema):
    """A version in ``GET /wf/{id}/versions/``."""

    id: str
    workflow_id: str


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
    """Every error: ``{"detail": ...}`` (SPEC §8)."""

    detail: Any


class DatasetResponseSchema(BaseModel):
    """An uploaded dataset (SPEC §6)."""

    id: str
    name: str
    description: str | None
    columns: list[str]
    row_count: int
    uploaded_at: datetime


class OutputFileResponseSchema(BaseModel):
    """An output file's metadata (SPEC §6)."""

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
    """Body of ``POST /wf/process_pause_action/{run_id}/`` (SPEC §5)."""

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


class PauseHistoryResponseSchema(BaseModel):
    """One pause of a run (SPEC §5)."""

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


class PausedWorkflowResponseSchema(BaseModel):
    """A paused run with its unresolved pause and its workflow (SPEC §5)."""

    run: RunResponseSchema
    current_pause: PauseHistoryResponseSchema | None
    workflow: WorkflowResponseSchema


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


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range in UTC") from None


#: A datetime with a UTC offset, as UTC (``GET /run/?start_date=``).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
