"""Request and response schemas of the HTTP API (SPEC §2, §4).

Responses are built as dicts by :mod:`spurline.engine.views` and serialized with
orjson; these models document them in OpenAPI and validate requests.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

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


class StartRunRequest(BaseModel):
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


class BatchRunRequest(BaseModel):
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


class CancelRequest(BaseModel):
    """Optional body of ``POST /wf/cancel_workflow/{run_id}/``: who cancels, kept in the
    run's ``message`` ("Canceled by <user_id>")."""

    user_id: str | None = Field(default=None, min_length=1, max_length=200)


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
